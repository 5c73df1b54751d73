import CGale
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One received datagram.
public struct Datagram: Sendable, Hashable {
    /// The payload (cut to 64 KiB at most; see `truncated`).
    public var bytes: [UInt8]
    /// Who sent it.
    public var sender: SocketAddress
    /// The datagram was larger than the read size and was cut (never silently).
    public var truncated: Bool

    public init(bytes: [UInt8], sender: SocketAddress, truncated: Bool = false) {
        self.bytes = bytes
        self.sender = sender
        self.truncated = truncated
    }
}

/// A UDP socket on an event loop: send datagrams with ``send(_:to:)``, receive them as an
/// `AsyncSequence` of ``Datagram``s (bytes and sender).
///
/// ```swift
/// let server = try await UDPSocket.bind(host: "127.0.0.1", port: 12345)
/// for try await datagram in server {
///     print("Received Messages:", String(decoding: datagram.bytes, as: UTF8.self), "from", datagram.sender)
///     try await server.send(datagram.bytes, to: datagram.sender)
/// }
/// ```
///
/// **The receive queue.** Datagrams are read from the kernel as they arrive and kept for the
/// reader in a queue of at most `queueCapacity` (default 1024). When the queue is full, a new
/// datagram is dropped (the newest, never one already queued) and ``droppedDatagrams`` counts
/// it, as the kernel does with its own buffer: a slow reader loses the latest traffic, not
/// memory. A reader that waits gets each datagram directly.
///
/// **Errors.** An ICMP error for a connected socket (a datagram to a closed port: `ECONNREFUSED`)
/// is thrown by the next receive, in order with the datagrams; receiving can go on after it
/// (a `for try await` loop ends at it, a `while` loop over ``receive()`` need not). With
/// ``setReportsErrorsForAllDestinations(_:)`` an unconnected socket gets them too.
///
/// Sends go to the kernel at once; one waits only while the socket's send buffer is full. One
/// reader at a time (a second concurrent receive throws); any number of senders.
public final class UDPSocket: @unchecked Sendable {
    public static let defaultQueueCapacity = 1024

    public let loop: EventLoop
    let core: UDPCore
    /// The bound address (the port the system picked for port 0).
    public let localAddress: SocketAddress

    /// Wrap a C handle and start receiving. Loop thread.
    init(loop: EventLoop, handle: OpaquePointer, queueCapacity: Int) {
        self.loop = loop
        core = UDPCore(loop: loop, handle: handle, capacity: queueCapacity)
        var a = gale_addr()
        _ = gale_udp_local_addr(handle, &a)
        localAddress = SocketAddress(raw: a)
        if gale_udp_peer_addr(handle, &a) == 0 { core.peer = SocketAddress(raw: a) }
        gale_udp_start(handle, udpCallbacks, Unmanaged.passRetained(core).toOpaque(), releaseUDPCore)
    }

    deinit {
        let core = self.core
        loop.runOnLoop { core.close() }
    }

    /// Bind a UDP socket to host:port (`socket(AF_INET, SOCK_DGRAM)` + `bind`). `host` is a
    /// numeric address, a name (resolved without blocking the loop), or "" for every IPv4
    /// address; port 0 picks a free port (see ``localAddress``).
    public static func bind(host: String = "127.0.0.1", port: Int = 0, reuseAddress: Bool = false,
                            reusePort: Bool = false, queueCapacity: Int = defaultQueueCapacity,
                            loop: EventLoop? = nil) async throws -> UDPSocket {
        let loop = try loop ?? EventLoop.shared
        let address = try await Resolver.firstAddress(host.isEmpty ? "0.0.0.0" : host, port: port, type: .datagram,
                                                      flags: .passive, loop: loop)
        return try await bind(to: address, reuseAddress: reuseAddress, reusePort: reusePort,
                              queueCapacity: queueCapacity, loop: loop)
    }

    /// Bind a UDP socket to an address. An IPv6 wildcard ("::") also receives IPv4 unless
    /// `ipv6Only`.
    public static func bind(to address: SocketAddress, reuseAddress: Bool = false, reusePort: Bool = false,
                            ipv6Only: Bool = false, queueCapacity: Int = defaultQueueCapacity,
                            loop: EventLoop? = nil) async throws -> UDPSocket {
        precondition(queueCapacity >= 0, "queueCapacity must be >= 0")
        let loop = try loop ?? EventLoop.shared
        var flags: UInt32 = 0
        if reuseAddress { flags |= UInt32(GALE_UDP_REUSEADDR) }
        if reusePort { flags |= UInt32(GALE_UDP_REUSEPORT) }
        if ipv6Only { flags |= UInt32(GALE_UDP_V6ONLY) }
        let f = flags
        return try await loop.submit {
            var a = address.raw
            var h: OpaquePointer?
            try check(gale_udp_open(loop.raw, &a, f, &h), "bind UDP socket to \(address)")
            return UDPSocket(loop: loop, handle: h!, queueCapacity: queueCapacity)
        }
    }

    /// Put a datagram ``Socket`` on the loop (it becomes non-blocking and belongs to the new
    /// object; `socket` is left without a descriptor). Any other kind of socket is refused
    /// with `.invalidArgument` (a closed one with `.closed`) and stays the caller's.
    public static func adopting(_ socket: Socket, queueCapacity: Int = defaultQueueCapacity,
                                loop: EventLoop? = nil) async throws -> UDPSocket {
        let loop = try loop ?? EventLoop.shared
        try socket.checkAdoptable(as: .datagram)
        let fd = socket.detach()
        if fd < 0 { throw GaleError.closed("adopt socket") }
        return try await loop.submit {
            var h: OpaquePointer?
            try check(gale_udp_new_fd(loop.raw, fd, &h), "adopt socket")
            return UDPSocket(loop: loop, handle: h!, queueCapacity: queueCapacity)
        }
    }

    /// Take the socket back off the loop: a blocking ``Socket`` and the datagrams received but
    /// not yet read. This object is closed afterwards.
    public func detach() async throws -> (socket: Socket, pending: [Datagram]) {
        let (fd, pending) = try await loop.submit { [core] in try core.detach() }
        let socket = try Socket(adopting: fd)
        try socket.setBlocking(true)
        return (socket, pending)
    }

    // MARK: Sending

    /// Send one datagram to an address (`sendto`).
    public func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
        try await core.send(bytes, to: address)
    }

    /// Send one datagram to host:port. A name is resolved first (off the loop thread, as
    /// `TCPClient.connect` resolves), to an address of this socket's family.
    public func send(_ bytes: [UInt8], to host: String, port: Int) async throws {
        try await send(bytes, to: resolve(host, port))
    }

    /// Send a UTF-8 string as one datagram.
    public func send(_ text: String, to address: SocketAddress) async throws {
        try await send(Array(text.utf8), to: address)
    }

    /// Send one datagram to the connected peer (after ``connect(to:)``).
    public func send(_ bytes: [UInt8]) async throws {
        try await core.send(bytes, to: nil)
    }

    private func resolve(_ host: String, _ port: Int) async throws -> SocketAddress {
        try await Resolver.firstAddress(host, port: port, family: localAddress.family, type: .datagram,
                                        flags: localAddress.family == .inet6 ? .v4Mapped : [], loop: loop)
    }

    /// Connect to a peer: ``send(_:)`` goes there, only its datagrams are received, and ICMP
    /// errors for it are thrown by ``receive()``.
    public func connect(to address: SocketAddress) async throws {
        try await withHandle("connect UDP socket to \(address)") { [core] h in
            var a = address.raw
            let r = gale_udp_connect(h, &a)
            if r == 0 { core.peer = address }
            return r
        }
    }

    /// Connect to host:port (a name is resolved first).
    public func connect(host: String, port: Int) async throws {
        try await connect(to: resolve(host, port))
    }

    /// The connected peer, if any.
    public var remoteAddress: SocketAddress? {
        get async { try? await loop.submit { [core] in core.peer } }
    }

    // MARK: Receiving

    /// The next datagram, waiting for one if need be. Throws an ICMP error that came back for an
    /// earlier send (see the type's discussion), or `.closed` once the socket is closed.
    public func receive() async throws -> Datagram {
        try await core.receive()
    }

    /// Datagrams dropped because the receive queue was full.
    public var droppedDatagrams: Int { core.dropped.load(ordering: .relaxed) }

    /// Datagrams read from the kernel so far (delivered, queued or dropped).
    public var receivedDatagrams: Int { core.received.load(ordering: .relaxed) }

    /// Datagrams waiting in the receive queue.
    public var queuedDatagrams: Int {
        get async { (try? await loop.submit { [core] in core.queued }) ?? 0 }
    }

    // MARK: Options

    private func withHandle(_ what: String, _ body: @escaping @Sendable (OpaquePointer) -> Int32) async throws {
        try await loop.submit { [core] in
            guard let h = core.handle else { throw GaleError.closed(what) }
            try check(body(h), what)
        }
    }

    /// `SO_BROADCAST`: allow sending to broadcast addresses.
    public func setBroadcast(_ on: Bool) async throws {
        try await withHandle("set SO_BROADCAST") { gale_udp_set_broadcast($0, on ? 1 : 0) }
    }

    /// Join a multicast group ("239.1.2.3", "ff02::1:3") on an interface: for IPv4 its address
    /// ("127.0.0.1"), for IPv6 its name or index ("lo"); nil lets the system choose.
    public func joinMulticast(group: String, interface: String? = nil) async throws {
        try await withHandle("join multicast group \(group)") { gale_udp_join_multicast($0, group, interface) }
    }

    /// Leave a multicast group joined with ``joinMulticast(group:interface:)``.
    public func leaveMulticast(group: String, interface: String? = nil) async throws {
        try await withHandle("leave multicast group \(group)") { gale_udp_leave_multicast($0, group, interface) }
    }

    /// Multicast sent from here: whether it loops back to this host, its TTL (hop limit), and
    /// the interface it leaves through (as for joining; nil: the default route's).
    public func setMulticast(loopback: Bool? = nil, ttl: Int? = nil, interface: String? = nil) async throws {
        try await withHandle("set multicast options") { h in
            if let loopback, case let r = gale_udp_set_multicast_loop(h, loopback ? 1 : 0), r < 0 { return r }
            if let ttl, case let r = gale_udp_set_multicast_ttl(h, Int32(clamping: ttl)), r < 0 { return r }
            if let interface { return gale_udp_set_multicast_interface(h, interface) }
            return 0
        }
    }

    /// `SO_RCVBUF`: the kernel's receive buffer, where datagrams wait before the loop reads
    /// them (the kernel doubles the request and caps it at `net.core.rmem_max`).
    public func setReceiveBufferSize(_ bytes: Int) async throws {
        try await withHandle("set SO_RCVBUF") { gale_udp_set_recv_buffer($0, Int32(clamping: bytes)) }
    }

    /// The receive buffer size in effect.
    public var receiveBufferSize: Int {
        get async throws {
            try await loop.submit { [core] in
                guard let h = core.handle else { throw GaleError.closed("get SO_RCVBUF") }
                let r = gale_udp_recv_buffer(h)
                try check(r, "get SO_RCVBUF")
                return Int(r)
            }
        }
    }

    /// Datagrams longer than this are cut and flagged `truncated` (default and maximum 64 KiB).
    public func setReadSize(_ bytes: Int) async throws {
        try await withHandle("set read size") { gale_udp_set_read_size($0, Swift.max(0, bytes)); return 0 }
    }

    /// `IP_RECVERR`: also report ICMP errors for datagrams sent to any address, not only the
    /// connected peer. The kernel then fails the next send with such an error too, whatever its
    /// destination, so a server answering many peers usually leaves this off (the default).
    public func setReportsErrorsForAllDestinations(_ on: Bool) async throws {
        try await withHandle("set IP_RECVERR") { gale_udp_set_recverr($0, on ? 1 : 0) }
    }

    // MARK: Closing

    /// Close the socket. A waiting receive and later ones throw `.closed` (an `AsyncSequence`
    /// loop ends); queued datagrams are dropped. Idempotent; any thread.
    public func close() {
        let core = self.core
        loop.runOnLoop { core.close() }
    }
}

// MARK: - AsyncSequence

extension UDPSocket: AsyncSequence {
    public typealias Element = Datagram

    /// Datagrams as they arrive; ends when the socket is closed, throws an ICMP error (see
    /// ``UDPSocket``).
    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: UDPSocket
        public mutating func next() async throws -> Datagram? {
            do {
                return try await socket.receive()
            } catch let e as GaleError where e.kind == .closed {
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(socket: self) }
}

// MARK: - The loop-side state

/// A UDP socket's state, confined to the loop thread (but for the counters). The C handle
/// holds a reference to it until its close callback.
final class UDPCore: @unchecked Sendable {
    let loop: EventLoop
    var handle: OpaquePointer?
    var peer: SocketAddress?
    let capacity: Int
    let dropped = Atomic<Int>(0)
    let received = Atomic<Int>(0)

    /// Datagrams and errors for the reader, oldest first from `head`.
    private var inbox: [Result<Datagram, GaleError>] = []
    private var head = 0
    private var queuedDatagrams = 0
    private var closed = false
    private var reader: (cont: UnsafeContinuation<Datagram, any Error>, id: UInt64)?
    private static let receiveIDs = Atomic<UInt64>(0)
    private var cancelledID: UInt64 = 0
    /// Sends waiting for room in the socket buffer, in order.
    private var waitingSends: [(bytes: [UInt8], to: gale_addr?, cont: UnsafeContinuation<Void, any Error>)] = []
    /// The loop as an isolation, for sends that wait on its thread (made when one first does).
    private lazy var loopIsolation = LoopIsolation(loop)

    init(loop: EventLoop, handle: OpaquePointer, capacity: Int) {
        self.loop = loop
        self.handle = handle
        self.capacity = capacity
    }

    var queued: Int { queuedDatagrams }

    // MARK: receiving

    func receive() async throws -> Datagram {
        if loop.inEventLoop && reader == nil, let d = try next() { return d }
        let id = Self.receiveIDs.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Datagram, any Error>) in
                loop.runOnLoop { self.beginReceive(cont, id) }
            }
        } onCancel: {
            loop.runOnLoop { self.cancelReceive(id) }
        }
    }

    /// The oldest datagram (or error) if there is one; throws `.closed` when there never will be.
    private func next() throws -> Datagram? {
        if head < inbox.count {
            let item = inbox[head]
            head += 1
            if head == inbox.count {
                inbox.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= inbox.count {
                inbox.removeFirst(head)
                head = 0
            }
            if case .success = item { queuedDatagrams -= 1 }
            return try item.get()
        }
        if closed { throw GaleError.closed("receive") }
        return nil
    }

    private func beginReceive(_ cont: UnsafeContinuation<Datagram, any Error>, _ id: UInt64) {
        if id <= cancelledID { return cont.resume(throwing: CancellationError()) }
        if reader != nil {
            return cont.resume(throwing: GaleError(kind: .invalidArgument, operation: "receive",
                                                   message: "another receive is already waiting on this socket"))
        }
        do {
            if let d = try next() { return cont.resume(returning: d) }
            reader = (cont, id)
        } catch {
            cont.resume(throwing: error)
        }
    }

    private func cancelReceive(_ id: UInt64) {
        cancelledID = Swift.max(cancelledID, id)
        if let r = reader, r.id == id {
            reader = nil
            r.cont.resume(throwing: CancellationError())
        }
    }

    /// A datagram or an error for the reader: straight to it if it waits, else queued.
    private func deliver(_ item: Result<Datagram, GaleError>) {
        if let r = reader {
            reader = nil
            r.cont.resume(with: item.mapError { $0 as any Error })
            return
        }
        if case .success = item {
            if queuedDatagrams >= capacity {
                dropped.add(1, ordering: .relaxed) // the newest goes; what is queued stays
                return
            }
            queuedDatagrams += 1
        }
        inbox.append(item)
    }

    // MARK: sending

    func send(_ bytes: [UInt8], to address: SocketAddress?) async throws {
        let to = address?.raw
        if loop.inEventLoop {
            // Send now, or (the buffer full, or sends already waiting) wait in line for
            // on_writable. Isolated to the loop, the continuation is queued at once, in this
            // job (with no isolation, it would first go back on the loop's queue as a new job).
            if waitingSends.isEmpty, try trySend(bytes, to) { return }
            if closed { throw GaleError.closed("send") }
            try await withUnsafeThrowingContinuation(isolation: loopIsolation) {
                (cont: UnsafeContinuation<Void, any Error>) in
                self.waitingSends.append((bytes, to, cont))
            }
            return
        }
        try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Void, any Error>) in
            loop.execute { self.sendOrWait(bytes, to, cont) }
        }
    }

    /// Send now: true if sent, false if the socket buffer is full (on_writable will follow).
    private func trySend(_ bytes: [UInt8], _ to: gale_addr?) throws -> Bool {
        guard let h = handle, !closed else { throw GaleError.closed("send") }
        var dest = to ?? gale_addr()
        let r = bytes.withUnsafeBytes { buf in
            to == nil ? gale_udp_send(h, buf.baseAddress, buf.count, nil) : gale_udp_send(h, buf.baseAddress, buf.count, &dest)
        }
        if r == -EAGAIN { return false }
        if r < 0 {
            let target = to.map { "send to \(SocketAddress(raw: $0))" } ?? "send"
            throw GaleError(code: r, operation: target)
        }
        return true
    }

    private func sendOrWait(_ bytes: [UInt8], _ to: gale_addr?, _ cont: UnsafeContinuation<Void, any Error>) {
        do {
            if waitingSends.isEmpty, try trySend(bytes, to) { return cont.resume() }
            waitingSends.append((bytes, to, cont))
        } catch {
            cont.resume(throwing: error)
        }
    }

    fileprivate func onWritable() {
        while let first = waitingSends.first {
            do {
                if try !trySend(first.bytes, first.to) { return }
                waitingSends.removeFirst()
                first.cont.resume()
            } catch {
                waitingSends.removeFirst()
                first.cont.resume(throwing: error)
            }
        }
    }

    // MARK: closing

    func close() {
        guard let h = handle, !closed else { return }
        gale_udp_close(h)
        finish()
    }

    /// Hand the descriptor back, with the datagrams not yet read.
    func detach() throws(GaleError) -> (Int32, [Datagram]) {
        guard let h = handle, !closed else { throw GaleError.closed("detach") }
        let fd = gale_udp_detach(h)
        let pending = inbox[head...].compactMap { try? $0.get() }
        finish()
        return (fd, pending)
    }

    /// Closed (by us or by libcore): fail whoever waits.
    private func finish() {
        closed = true
        inbox = []
        head = 0
        queuedDatagrams = 0
        if let r = reader {
            reader = nil
            r.cont.resume(throwing: GaleError.closed("receive"))
        }
        let sends = waitingSends
        waitingSends = []
        for s in sends { s.cont.resume(throwing: GaleError.closed("send")) }
    }

    // MARK: C callbacks

    fileprivate func onDatagram(_ data: UnsafeRawPointer, _ len: Int, _ from: gale_addr, _ flags: UInt32) {
        received.add(1, ordering: .relaxed)
        let bytes = [UInt8](UnsafeRawBufferPointer(start: data, count: len))
        deliver(.success(Datagram(bytes: bytes, sender: SocketAddress(raw: from),
                                  truncated: flags & UInt32(GALE_UDP_TRUNCATED) != 0)))
    }

    fileprivate func onError(_ code: Int32, _ dest: gale_addr?) {
        let target = dest.map { SocketAddress(raw: $0) } ?? peer
        deliver(.failure(GaleError(code: code, operation: target.map { "send to \($0)" } ?? "send")))
    }

    fileprivate func onClose() {
        handle = nil
        if !closed { finish() }
    }
}

/// An event loop as an actor (its executor is the loop's), to run code isolated to it.
private actor LoopIsolation {
    nonisolated let loop: EventLoop
    init(_ loop: EventLoop) { self.loop = loop }
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
}

@inline(__always)
private func udpCore(_ ud: UnsafeMutableRawPointer?) -> UDPCore {
    Unmanaged<UDPCore>.fromOpaque(ud!).takeUnretainedValue()
}

nonisolated(unsafe) private let udpCallbacks: UnsafeMutablePointer<gale_udp_callbacks> = {
    let p = UnsafeMutablePointer<gale_udp_callbacks>.allocate(capacity: 1)
    p.initialize(to: gale_udp_callbacks(
        on_datagram: { _, data, len, from, flags, ud in udpCore(ud).onDatagram(data, len, from.pointee, flags) },
        on_error: { _, err, dest, ud in udpCore(ud).onError(err, dest?.pointee) },
        on_writable: { _, ud in udpCore(ud).onWritable() },
        on_close: { _, ud in udpCore(ud).onClose() }
    ))
    return p
}()

private let releaseUDPCore: gale_free_fn = { ud in
    Unmanaged<UDPCore>.fromOpaque(ud!).release()
}
