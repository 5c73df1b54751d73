import CGale
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of a socket: `SOCK_STREAM`, `SOCK_DGRAM`, ...
public enum SocketType: Sendable, Hashable {
    case stream, datagram, raw, seqPacket
    /// Any other `SOCK_*` value.
    case other(Int32)

    /// The `SOCK_*` constant.
    public var rawValue: Int32 {
        switch self {
        case .stream: return sockType(SOCK_STREAM)
        case .datagram: return sockType(SOCK_DGRAM)
        case .raw: return sockType(SOCK_RAW)
        case .seqPacket: return sockType(SOCK_SEQPACKET)
        case .other(let v): return v
        }
    }

    public init(rawValue: Int32) {
        switch rawValue {
        case sockType(SOCK_STREAM): self = .stream
        case sockType(SOCK_DGRAM): self = .datagram
        case sockType(SOCK_RAW): self = .raw
        case sockType(SOCK_SEQPACKET): self = .seqPacket
        default: self = .other(rawValue)
        }
    }
}

#if canImport(Glibc) || canImport(Musl)
@inline(__always) func sockType(_ t: __socket_type) -> Int32 { Int32(t.rawValue) }
#else
@inline(__always) func sockType(_ t: Int32) -> Int32 { t }
#endif

/// A BSD socket, one to one with Python's `socket.socket`: blocking by default, non-blocking
/// with `setBlocking(false)`, or blocking with a deadline per call with `setTimeout(_:)`.
///
/// ```swift
/// let s = try Socket(family: .inet, type: .stream)     // socket.socket(AF_INET, SOCK_STREAM)
/// try s.connect(host: "127.0.0.1", port: 65432)
/// try s.sendAll(Array("Hello, world".utf8))
/// let data = try s.recv(1024)
/// s.close()
/// ```
///
/// Calls block the calling thread, as Python's do: use a `Socket` from a thread of your own
/// (never from an ``EventLoop``'s), or hand it to a loop with ``TCPStream/adopting(_:loop:)``
/// or ``UDPSocket/adopting(_:queueCapacity:loop:)`` for async code. Errors are `GaleError`s:
/// `.wouldBlock` for a non-blocking call that would wait (Python's `BlockingIOError`),
/// `.timeout` when a timeout elapses (`socket.timeout`), `.system` with `errno` otherwise.
/// The descriptor is closed by ``close()`` or when the object goes away.
public final class Socket: Sendable, CustomStringConvertible {
    private let fd: Atomic<Int32>
    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    public let family: SocketAddress.Family
    public let type: SocketType

    /// A new socket (`socket.socket(family, type, proto)`), blocking.
    public init(family: SocketAddress.Family = .inet, type: SocketType = .stream, proto: Int32 = 0) throws(GaleError) {
        let r = gale_socket_open(family.rawValue, type.rawValue, proto)
        try check(r, "socket(\(family), \(type))")
        self.fd = Atomic(r)
        self.family = family
        self.type = type
    }

    /// Own an open socket descriptor (`socket.socket(fileno=fd)`): it is closed with this object.
    public init(adopting descriptor: Int32) throws(GaleError) {
        var domain: Int32 = 0, kind: Int32 = 0
        try check(gale_socket_get_option_raw(descriptor, SOL_SOCKET, SO_DOMAIN, &domain), "adopt socket \(descriptor)")
        try check(gale_socket_get_option(descriptor, GALE_SO_TYPE, &kind), "adopt socket \(descriptor)")
        self.fd = Atomic(descriptor)
        self.family = SocketAddress.Family(rawValue: domain)
        self.type = SocketType(rawValue: kind)
    }

    deinit { close() }

    /// The descriptor (`fileno()`), or -1 once closed or detached.
    public var fileDescriptor: Int32 { fd.load(ordering: .acquiring) }

    public var description: String { "Socket(fd: \(fileDescriptor), \(family), \(type))" }

    /// The descriptor, or `.closed` if there is none.
    private func live(_ op: @autoclosure () -> String) throws(GaleError) -> Int32 {
        let d = fileDescriptor
        if d < 0 { throw GaleError(kind: .closed, operation: op(), message: "the socket is closed", errno: EBADF) }
        return d
    }

    /// A count from a libcore call, or the error it stands for.
    private func count(_ r: Int, _ op: @autoclosure () -> String) throws(GaleError) -> Int {
        if r < 0 { throw GaleError(code: Int32(r), operation: op()) }
        return r
    }

    // MARK: Server side

    /// Bind to an address (`bind((host, port))`).
    public func bind(_ address: SocketAddress) throws(GaleError) {
        var a = address.raw
        try check(gale_socket_bind(try live("bind"), &a), "bind \(address)")
    }

    /// Bind to host:port. `host` "" is every address of the family (`INADDR_ANY`, `::`); a name
    /// is resolved now, blocking, as Python does.
    public func bind(host: String, port: Int) throws(GaleError) {
        if host.isEmpty {
            try bind(SocketAddress(ip: family == .inet6 ? "::" : "0.0.0.0", port: port))
        } else {
            try bind(resolve(host, port, passive: true))
        }
    }

    /// Listen for connections (`listen(backlog)`); nil is the system's maximum (SOMAXCONN).
    public func listen(backlog: Int? = nil) throws(GaleError) {
        try check(gale_socket_listen(try live("listen"), Int32(clamping: backlog ?? -1)), "listen")
    }

    /// Accept a connection (`accept()`): a new blocking socket and the peer's address.
    public func accept() throws(GaleError) -> (Socket, SocketAddress) {
        var peer = gale_addr()
        let r = gale_socket_accept(try live("accept"), &peer)
        try check(r, "accept")
        return (Socket(owning: r, family: family, type: type), SocketAddress(raw: peer))
    }

    private init(owning descriptor: Int32, family: SocketAddress.Family, type: SocketType) {
        self.fd = Atomic(descriptor)
        self.family = family
        self.type = type
    }

    // MARK: Client side

    /// Connect (`connect(address)`). Non-blocking: throws `.wouldBlock` (EINPROGRESS) and goes
    /// on in the background; wait until ``Socket/select(read:write:except:timeout:)`` reports
    /// it writable, then read `option(.error)`.
    public func connect(_ address: SocketAddress) throws(GaleError) {
        var a = address.raw
        try check(gale_socket_connect(try live("connect"), &a), "connect to \(address)")
    }

    /// Connect to host:port; a name is resolved now (blocking) and its first address of this
    /// socket's family is used, as Python's `connect((host, port))` does.
    public func connect(host: String, port: Int) throws(GaleError) {
        try connect(resolve(host, port, passive: false))
    }

    private func resolve(_ host: String, _ port: Int, passive: Bool) throws(GaleError) -> SocketAddress {
        try Resolver.firstAddressBlocking(host, port: port, family: family, type: type,
                                          flags: passive ? [.passive] : [])
    }

    // MARK: Data

    /// Send what the socket takes now (`send`): the count, possibly less than `bytes.count`.
    @discardableResult
    public func send(_ bytes: [UInt8], flags: Int32 = 0) throws(GaleError) -> Int {
        let d = try live("send")
        return try count(bytes.withUnsafeBytes { gale_socket_send(d, $0.baseAddress, $0.count, flags) }, "send")
    }

    /// Send from memory the caller holds (no copy): the count sent.
    @discardableResult
    public func send(_ buffer: UnsafeRawBufferPointer, flags: Int32 = 0) throws(GaleError) -> Int {
        try count(gale_socket_send(try live("send"), buffer.baseAddress, buffer.count, flags), "send")
    }

    /// Send every byte (`sendall`), waiting as needed. A non-blocking socket that fills up
    /// throws `.wouldBlock` with part of the data sent, as Python's does.
    public func sendAll(_ bytes: [UInt8], flags: Int32 = 0) throws(GaleError) {
        let d = try live("sendall")
        _ = try count(bytes.withUnsafeBytes { gale_socket_send_all(d, $0.baseAddress, $0.count, flags, nil) }, "sendall")
    }

    /// Receive up to `max` bytes (`recv`); empty at end of stream.
    public func recv(_ max: Int, flags: Int32 = 0) throws(GaleError) -> [UInt8] {
        precondition(max >= 0, "recv needs a count >= 0")
        let d = try live("recv")
        var buf = [UInt8](repeating: 0, count: max)
        let n = try count(buf.withUnsafeMutableBytes { gale_socket_recv(d, $0.baseAddress, $0.count, flags) }, "recv")
        buf.removeLast(max - n)
        return buf
    }

    /// Send one datagram to an address (`sendto`); the count sent.
    @discardableResult
    public func sendTo(_ bytes: [UInt8], _ address: SocketAddress, flags: Int32 = 0) throws(GaleError) -> Int {
        let d = try live("sendto")
        var a = address.raw
        return try count(bytes.withUnsafeBytes { gale_socket_send_to(d, $0.baseAddress, $0.count, flags, &a) },
                         "sendto \(address)")
    }

    /// Send one datagram to host:port (resolved now, blocking).
    @discardableResult
    public func sendTo(_ bytes: [UInt8], host: String, port: Int, flags: Int32 = 0) throws(GaleError) -> Int {
        try sendTo(bytes, resolve(host, port, passive: false), flags: flags)
    }

    /// Receive one datagram of at most `max` bytes (`recvfrom`) and its sender. A longer datagram
    /// is cut to `max`, as in Python; `truncated` says so. On a stream socket: up to `max` bytes
    /// and an empty address (family `.unspecified`: Python's `None`).
    public func recvFrom(_ max: Int) throws(GaleError) -> (bytes: [UInt8], from: SocketAddress, truncated: Bool) {
        precondition(max >= 0, "recvFrom needs a count >= 0")
        let d = try live("recvfrom")
        var buf = [UInt8](repeating: 0, count: max)
        var from = gale_addr()
        // MSG_TRUNC reports a datagram's real length; on a stream socket it would discard data.
        let flags: Int32 = type == .stream ? 0 : Int32(MSG_TRUNC)
        let n = try count(buf.withUnsafeMutableBytes { gale_socket_recv_from(d, $0.baseAddress, $0.count, flags, &from) },
                          "recvfrom")
        buf.removeLast(max - Swift.min(n, max))
        return (buf, SocketAddress(raw: from), n > max)
    }

    // MARK: Closing

    /// Which direction `shutdown` ends.
    public enum ShutdownHow: Sendable {
        /// `SHUT_RD` (0): no more receiving.
        case read
        /// `SHUT_WR` (1): done sending; the peer reads end of stream.
        case write
        /// `SHUT_RDWR` (2).
        case both
    }

    /// End one or both directions (`shutdown(how)`); the descriptor stays open.
    public func shutdown(_ how: ShutdownHow) throws(GaleError) {
        let h: Int32
        switch how {
        case .read: h = Int32(SHUT_RD)
        case .write: h = Int32(SHUT_WR)
        case .both: h = Int32(SHUT_RDWR)
        }
        try check(gale_socket_shutdown(try live("shutdown"), h), "shutdown")
    }

    /// Close the socket (`close()`). Idempotent; later calls throw `.closed`.
    public func close() {
        let d = fd.exchange(-1, ordering: .acquiringAndReleasing)
        if d >= 0 { _ = gale_socket_close(d) }
    }

    /// Give up the descriptor without closing it (`detach()`): it is the caller's from now on.
    public func detach() -> Int32 {
        fd.exchange(-1, ordering: .acquiringAndReleasing)
    }

    // MARK: Modes

    /// Blocking (`setblocking(True)`: no timeout) or non-blocking (`setblocking(False)`).
    public func setBlocking(_ blocking: Bool) throws(GaleError) {
        try check(gale_socket_set_blocking(try live("setblocking"), blocking ? 1 : 0), "setblocking")
    }

    /// `settimeout`: nil blocks without limit, `.zero` is non-blocking, a duration makes each
    /// call that waits longer throw `.timeout` (a send returns the part it sent, if any).
    public func setTimeout(_ timeout: Duration?) throws(GaleError) {
        let ns: Int64 = timeout.map { Int64(clamping: $0.nanoseconds) } ?? -1
        try check(gale_socket_set_timeout(try live("settimeout"), ns), "settimeout")
    }

    /// `gettimeout()`: nil when blocking without a timeout, `.zero` when non-blocking.
    public var timeout: Duration? {
        get throws(GaleError) {
            var ns: Int64 = 0
            try check(gale_socket_get_timeout(try live("gettimeout"), &ns), "gettimeout")
            return ns < 0 ? nil : .nanoseconds(ns)
        }
    }

    /// False once `setBlocking(false)` or `setTimeout(.zero)` (`getblocking()`).
    public var isBlocking: Bool {
        get throws(GaleError) { try timeout != .zero }
    }

    // MARK: Options

    /// The options of the tutorials' `setsockopt`/`getsockopt` calls.
    public enum Option: Sendable, Hashable {
        case reuseAddress, reusePort, receiveBufferSize, sendBufferSize, keepAlive, noDelay, broadcast, ipv6Only
        /// `SO_TYPE` (read only).
        case type
        /// `SO_ERROR` (read only; reading clears it): the outcome of a non-blocking connect.
        case error

        var raw: gale_sockopt {
            switch self {
            case .reuseAddress: return GALE_SO_REUSEADDR
            case .reusePort: return GALE_SO_REUSEPORT
            case .receiveBufferSize: return GALE_SO_RCVBUF
            case .sendBufferSize: return GALE_SO_SNDBUF
            case .keepAlive: return GALE_SO_KEEPALIVE
            case .noDelay: return GALE_TCP_NODELAY
            case .broadcast: return GALE_SO_BROADCAST
            case .ipv6Only: return GALE_IPV6_V6ONLY
            case .type: return GALE_SO_TYPE
            case .error: return GALE_SO_ERROR
            }
        }
    }

    /// `setsockopt` of an option (flags take 0/1, sizes bytes).
    public func setOption(_ option: Option, _ value: Int) throws(GaleError) {
        try check(gale_socket_set_option(try live("setsockopt"), option.raw, Int32(clamping: value)), "setsockopt \(option)")
    }

    /// `setsockopt` of an on/off option.
    public func setOption(_ option: Option, _ on: Bool) throws(GaleError) {
        try setOption(option, on ? 1 : 0)
    }

    /// `getsockopt` of an option.
    public func option(_ option: Option) throws(GaleError) -> Int {
        var v: Int32 = 0
        try check(gale_socket_get_option(try live("getsockopt"), option.raw, &v), "getsockopt \(option)")
        return Int(v)
    }

    /// `setsockopt` of any int-valued option (`level`, `name` as in the system headers).
    public func setOption(level: Int32, name: Int32, _ value: Int32) throws(GaleError) {
        try check(gale_socket_set_option_raw(try live("setsockopt"), level, name, value), "setsockopt \(level)/\(name)")
    }

    /// `getsockopt` of any int-valued option.
    public func option(level: Int32, name: Int32) throws(GaleError) -> Int32 {
        var v: Int32 = 0
        try check(gale_socket_get_option_raw(try live("getsockopt"), level, name, &v), "getsockopt \(level)/\(name)")
        return v
    }

    // MARK: Addresses

    /// Our address (`getsockname()`).
    public var localAddress: SocketAddress {
        get throws(GaleError) {
            var a = gale_addr()
            try check(gale_socket_local_addr(try live("getsockname"), &a), "getsockname")
            return SocketAddress(raw: a)
        }
    }

    /// The connected peer's address (`getpeername()`).
    public var remoteAddress: SocketAddress {
        get throws(GaleError) {
            var a = gale_addr()
            try check(gale_socket_peer_addr(try live("getpeername"), &a), "getpeername")
            return SocketAddress(raw: a)
        }
    }
}

// MARK: - Adopting

extension Socket {
    /// For the `adopting` calls, before the descriptor changes hands: throws `.closed` without
    /// a descriptor, `.invalidArgument` unless the socket is of `type` (and, for a stream, not
    /// listening), so a refused socket stays the caller's.
    func checkAdoptable(as expected: SocketType) throws(GaleError) {
        if fileDescriptor < 0 { throw GaleError.closed("adopt socket") }
        let actual = SocketType(rawValue: Int32(clamping: try option(.type)))
        if actual != expected {
            throw GaleError(kind: .invalidArgument, operation: "adopt socket",
                            message: "a \(expected) socket is needed, not a \(actual) one")
        }
        if expected == .stream, try option(level: SOL_SOCKET, name: SO_ACCEPTCONN) != 0 {
            throw GaleError(kind: .invalidArgument, operation: "adopt socket",
                            message: "a listening socket is not a connection; adopt the sockets it accepts")
        }
    }
}

// MARK: - select

extension Socket {
    /// Wait until some of the sockets are ready (`select.select(read, write, except, timeout)`):
    /// readable (data, a connection to accept, end of stream or an error), writable, or with an
    /// exceptional condition (urgent data). `timeout` nil waits for ever, `.zero` only looks.
    /// Returns the ready ones of each list; all empty when the timeout elapsed.
    public static func select(read: [Socket], write: [Socket] = [], except: [Socket] = [],
                              timeout: Duration? = nil) throws(GaleError)
        -> (read: [Socket], write: [Socket], except: [Socket]) {
        let all = read + write + except
        var fds = all.enumerated().map { i, s -> pollfd in
            let events = i < read.count ? POLLIN : i < read.count + write.count ? POLLOUT : POLLPRI
            return pollfd(fd: s.fileDescriptor, events: Int16(events), revents: 0)
        }
        let ns: Int64 = timeout.map { Int64(clamping: $0.nanoseconds) } ?? -1
        let r = fds.withUnsafeMutableBufferPointer { gale_socket_poll($0.baseAddress!, $0.count, ns) }
        try check(r, "select")
        var out: (read: [Socket], write: [Socket], except: [Socket]) = ([], [], [])
        for (i, p) in fds.enumerated() where p.revents != 0 {
            let ev = Int32(p.revents)
            if i < read.count {
                if ev & Int32(POLLIN | POLLHUP | POLLERR) != 0 { out.read.append(all[i]) }
            } else if i < read.count + write.count {
                if ev & Int32(POLLOUT | POLLHUP | POLLERR) != 0 { out.write.append(all[i]) }
            } else if ev & Int32(POLLPRI) != 0 {
                out.except.append(all[i])
            }
        }
        return out
    }
}
