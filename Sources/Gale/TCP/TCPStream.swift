import CGale
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A connected byte stream over TCP or a Unix socket, like Tornado's `IOStream`.
///
/// Reads wait for data and hand it over as `[UInt8]`; writes queue data and suspend only while
/// the outbound queue is above its high-water mark (256 KiB), so a slow peer slows the writer
/// instead of growing memory. Reading has the same discipline: the stream stops reading from
/// the socket once its buffer holds more than a read needs (256 KiB by default).
///
/// ```swift
/// let stream = try await TCPClient.connect(host: "127.0.0.1", port: 65432)
/// try await stream.write("Hello, world")
/// let reply = try await stream.read(upTo: 1024)
/// stream.close()
/// ```
///
/// One read at a time (a second concurrent read throws); writes may come from several tasks.
/// All methods may be called from any task; they are cheapest on the stream's loop.
public final class TCPStream: @unchecked Sendable {
    public let loop: EventLoop
    let core: StreamCore
    /// Our end of the connection (nil if the system could not tell).
    public let localAddress: SocketAddress?
    /// The peer's end of the connection.
    public let remoteAddress: SocketAddress?

    /// Wrap a C stream. Loop thread.
    init(loop: EventLoop, handle: OpaquePointer) {
        self.loop = loop
        self.core = StreamCore(loop: loop, handle: handle)
        var a = gale_addr()
        localAddress = gale_stream_local_addr(handle, &a) == 0 ? SocketAddress(raw: a) : nil
        remoteAddress = gale_stream_peer_addr(handle, &a) == 0 ? SocketAddress(raw: a) : nil
        gale_stream_start(handle, streamCallbacks, Unmanaged.passRetained(core).toOpaque(), releaseCore)
    }

    /// Adopt a connected socket descriptor (the stream owns it from now on). Loop thread.
    static func adopt(fd: Int32, loop: EventLoop) throws(GaleError) -> TCPStream {
        var h: OpaquePointer?
        try check(gale_stream_new(loop.raw, fd, &h), "wrap socket")
        return TCPStream(loop: loop, handle: h!)
    }

    deinit {
        // Dropped without close(): flush what was written, then close.
        let core = self.core
        loop.runOnLoop { core.close(graceful: true) }
    }

    // MARK: Reading

    /// Up to `maxBytes` bytes as soon as any are available; empty at end of stream (like
    /// Python's `recv`).
    public func read(upTo maxBytes: Int = 65536) async throws -> [UInt8] {
        precondition(maxBytes > 0, "read(upTo:) needs a positive count")
        return try await core.read(.upTo(maxBytes))
    }

    /// Exactly `count` bytes; throws `.endOfStream` if the peer closes first.
    public func read(exactly count: Int) async throws -> [UInt8] {
        precondition(count >= 0, "read(exactly:) needs a count >= 0")
        return try await core.read(.exactly(count))
    }

    /// Bytes up to and including `delimiter`. Throws `.limitExceeded` once `max` bytes have
    /// arrived without it (nothing more is buffered), `.endOfStream` if the peer closes first.
    public func read(until delimiter: [UInt8], max: Int = 64 * 1024) async throws -> [UInt8] {
        precondition(!delimiter.isEmpty, "read(until:) needs a delimiter")
        return try await core.read(.until(delimiter, max))
    }

    /// Bytes up to and including `delimiter` (UTF-8).
    public func read(until delimiter: String, max: Int = 64 * 1024) async throws -> [UInt8] {
        try await read(until: Array(delimiter.utf8), max: max)
    }

    /// Everything until the peer closes (Tornado's `read_until_close`); throws
    /// `.limitExceeded` past `max` bytes.
    public func readToEnd(max: Int = 100 * 1024 * 1024) async throws -> [UInt8] {
        try await core.read(.toEnd(max))
    }

    // MARK: Writing

    /// Queue `bytes` for sending. Returns at once unless the outbound queue is above its
    /// high-water mark, in which case it waits until the queue drains to the low mark.
    /// Throws `.closed` once the stream is closed, shut down for writing, or failed.
    public func write(_ bytes: [UInt8]) async throws {
        try await core.write(bytes)
    }

    /// Queue the UTF-8 bytes of `string`.
    public func write(_ string: String) async throws {
        try await core.write(Array(string.utf8))
    }

    /// Queue any collection of bytes.
    public func write<Bytes: Collection & Sendable>(contentsOf bytes: Bytes) async throws where Bytes.Element == UInt8 {
        try await core.write(Array(bytes))
    }

    /// Bytes queued and not yet handed to the kernel.
    public var queuedBytes: Int {
        get async throws { try await loop.submit { [core] in core.handle.map { gale_stream_write_queue($0) } ?? 0 } }
    }

    // MARK: Closing

    /// Shut down the sending side once the queue is sent (the peer reads end of stream);
    /// reading goes on. Later writes throw.
    public func shutdownWrite() {
        let core = self.core
        loop.runOnLoop { core.shutdownWrite() }
    }

    /// Close: what is queued is still sent, then the connection closes. Pending and later
    /// reads and writes throw `.closed`. Idempotent; any thread.
    public func close() {
        let core = self.core
        loop.runOnLoop { core.close(graceful: true) }
    }

    /// Close now, dropping what is queued.
    public func abort() {
        let core = self.core
        loop.runOnLoop { core.close(graceful: false) }
    }

    /// True once closed (by us, the peer's reset, or a timeout).
    public var isClosed: Bool {
        get async { (try? await loop.submit { [core] in core.handle == nil || core.closing }) ?? true }
    }

    // MARK: Options

    /// Timeouts (nil: none). When one elapses the stream fails with a `.timeout` error and
    /// closes: read (no data while a read waits... or while reading is on), write (queued
    /// bytes make no progress), idle (nothing moves either way).
    public func setTimeouts(read: Duration? = nil, write: Duration? = nil, idle: Duration? = nil) async throws {
        try await loop.submit { [core] in
            guard let h = core.handle else { throw GaleError.closed("set timeouts") }
            try check(gale_stream_set_timeouts(h, read?.nanoseconds ?? 0, write?.nanoseconds ?? 0,
                                               idle?.nanoseconds ?? 0), "set timeouts")
        }
    }

    /// TCP_NODELAY (on by default: Gale batches writes itself).
    public func setNoDelay(_ on: Bool) async throws {
        try await loop.submit { [core] in
            guard let h = core.handle else { throw GaleError.closed("set TCP_NODELAY") }
            try check(gale_stream_set_nodelay(h, on ? 1 : 0), "set TCP_NODELAY")
        }
    }

    /// TCP keep-alive probes: after `idle` without traffic, every `interval`, `count` times.
    public func setKeepAlive(_ on: Bool, idle: Duration? = nil, interval: Duration? = nil, count: Int? = nil) async throws {
        try await loop.submit { [core] in
            guard let h = core.handle else { throw GaleError.closed("set keep-alive") }
            let secs = { (d: Duration?) -> UInt32 in UInt32(clamping: d.map { $0.components.seconds } ?? 0) }
            try check(gale_stream_set_keepalive(h, on ? 1 : 0, secs(idle), secs(interval), UInt32(clamping: count ?? 0)),
                      "set keep-alive")
        }
    }

    /// Write-queue marks: `write` waits while the queue is at or above `high` (0: never),
    /// until it drains to `low`.
    public func setWriteWatermarks(low: Int, high: Int) async throws {
        try await loop.submit { [core] in
            guard let h = core.handle else { throw GaleError.closed("set watermarks") }
            try check(gale_stream_set_watermarks(h, low, high), "set watermarks")
        }
    }

    /// Bytes the stream may hold unread before it stops reading from the socket.
    public func setReadBufferLimit(_ bytes: Int) {
        let core = self.core
        loop.runOnLoop { core.bufferLimit = Swift.max(1024, bytes) }
    }
}

// MARK: - AsyncSequence

extension TCPStream: AsyncSequence {
    public typealias Element = [UInt8]

    /// The stream as chunks of bytes as they arrive, ending at end of stream.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: TCPStream
        public mutating func next() async throws -> [UInt8]? {
            let chunk = try await stream.read(upTo: 64 * 1024)
            return chunk.isEmpty ? nil : chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

// MARK: - The loop-side state

enum ReadKind: Sendable {
    case upTo(Int)
    case exactly(Int)
    case until([UInt8], Int)
    case toEnd(Int)

    /// Bytes that must be buffered for the read to be decided.
    var need: Int {
        switch self {
        case .upTo: return 1
        case .exactly(let n): return n
        case .until(_, let max), .toEnd(let max): return max
        }
    }
}

/// A stream's state, confined to the loop thread. The C stream holds a reference to it
/// until its close callback.
final class StreamCore: @unchecked Sendable {
    let loop: EventLoop
    /// The C stream; nil once it has closed.
    var handle: OpaquePointer?
    var closing = false

    private var inbox: [UInt8] = []
    private var head = 0
    private var eof = false
    /// Why reads and writes now fail, once they do.
    private var failure: GaleError?
    private var reader: PendingRead?
    private var readingPaused = false
    /// Buffer this much unread before pausing the socket (more if a pending read needs it).
    var bufferLimit = 256 * 1024

    private var writers: [UnsafeContinuation<Void, any Error>] = []

    private static let readIDs = Atomic<UInt64>(0)
    private var cancelledReadID: UInt64 = 0

    private struct PendingRead {
        let kind: ReadKind
        let cont: UnsafeContinuation<[UInt8], any Error>
        let id: UInt64
        var scanned: Int
    }

    init(loop: EventLoop, handle: OpaquePointer) {
        self.loop = loop
        self.handle = handle
    }

    private var available: Int { inbox.count - head }

    // MARK: reads

    func read(_ kind: ReadKind) async throws -> [UInt8] {
        if loop.inEventLoop && reader == nil {
            var scanned = 0
            if let bytes = try attempt(kind, &scanned) {
                resumeReadingIfDrained()
                return bytes
            }
        }
        let id = Self.readIDs.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<[UInt8], any Error>) in
                loop.runOnLoop { self.beginRead(kind, cont, id) }
            }
        } onCancel: {
            loop.runOnLoop { self.cancelRead(id) }
        }
    }

    private func beginRead(_ kind: ReadKind, _ cont: UnsafeContinuation<[UInt8], any Error>, _ id: UInt64) {
        if id <= cancelledReadID { return cont.resume(throwing: CancellationError()) }
        if reader != nil {
            return cont.resume(throwing: GaleError(kind: .invalidArgument, operation: "read",
                                                   message: "another read is already waiting on this stream"))
        }
        reader = PendingRead(kind: kind, cont: cont, id: id, scanned: 0)
        serviceReader()
        applyBackpressure()
    }

    private func cancelRead(_ id: UInt64) {
        cancelledReadID = Swift.max(cancelledReadID, id)
        if let r = reader, r.id == id {
            reader = nil
            r.cont.resume(throwing: CancellationError())
        }
    }

    /// Satisfy the pending read if the buffer (or end of stream, or a failure) decides it.
    private func serviceReader() {
        guard var r = reader else { return }
        do {
            if let bytes = try attempt(r.kind, &r.scanned) {
                reader = nil
                r.cont.resume(returning: bytes)
                resumeReadingIfDrained()
            } else {
                reader = r
            }
        } catch {
            reader = nil
            r.cont.resume(throwing: error)
        }
    }

    /// The read's result if it can be decided now, nil if it must wait.
    private func attempt(_ kind: ReadKind, _ scanned: inout Int) throws -> [UInt8]? {
        let avail = available
        switch kind {
        case .upTo(let n):
            if avail > 0 { return take(Swift.min(n, avail)) }
            if eof { return [] }
            if let f = failure { throw f }
        case .exactly(let n):
            if avail >= n { return take(n) }
            if let f = failure { throw f }
            if eof { throw GaleError.endOfStream("read(exactly: \(n))") }
        case .until(let delimiter, let max):
            if let end = find(delimiter, from: head + scanned) {
                let length = end - head
                if length > max { throw limit("read(until:)", max) }
                return take(length)
            }
            scanned = Swift.max(0, avail - delimiter.count + 1)
            if avail >= max { throw limit("read(until:)", max) }
            if let f = failure { throw f }
            if eof { throw GaleError.endOfStream("read(until:)") }
        case .toEnd(let max):
            if avail > max { throw limit("readToEnd", max) }
            if eof { return take(avail) }
            if let f = failure { throw f }
        }
        return nil
    }

    private func limit(_ op: String, _ max: Int) -> GaleError {
        GaleError(kind: .limitExceeded, operation: op,
                  message: "more than \(max) bytes arrived without satisfying the read")
    }

    /// The index just past the first `delimiter` at or after `from`.
    private func find(_ delimiter: [UInt8], from: Int) -> Int? {
        let n = delimiter.count, end = inbox.count
        if end - from < n { return nil }
        let first = delimiter[0]
        return inbox.withUnsafeBufferPointer { buf -> Int? in
            var i = from
            while i <= end - n {
                if buf[i] == first {
                    var j = 1
                    while j < n && buf[i + j] == delimiter[j] { j += 1 }
                    if j == n { return i + n }
                }
                i += 1
            }
            return nil
        }
    }

    private func take(_ n: Int) -> [UInt8] {
        if head == 0 && n == inbox.count {
            let all = inbox // hand the buffer over whole: no copy
            inbox = []
            return all
        }
        let out = Array(inbox[head..<head + n])
        head += n
        if head == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 * 1024 && head * 2 >= inbox.count {
            inbox.removeFirst(head)
            head = 0
        }
        return out
    }

    // MARK: backpressure on reads

    private func applyBackpressure() {
        guard let h = handle, !readingPaused else { return }
        if available >= Swift.max(bufferLimit, reader?.kind.need ?? 0) {
            readingPaused = true
            gale_stream_pause_reading(h)
        }
    }

    private func resumeReadingIfDrained() {
        guard readingPaused, let h = handle else { return }
        if available < bufferLimit / 2 || (reader.map { available < $0.kind.need } ?? false) {
            readingPaused = false
            gale_stream_resume_reading(h)
        }
    }

    // MARK: writes

    func write(_ bytes: [UInt8]) async throws {
        if loop.inEventLoop {
            if try queue(bytes) { try await waitWritable() }
            return
        }
        try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Void, any Error>) in
            loop.execute {
                do {
                    if try self.queue(bytes) { self.writers.append(cont) } else { cont.resume() }
                } catch {
                    cont.resume(throwing: error)
                }
            }
        }
    }

    /// Queue bytes; true if the writer must now wait for the queue to drain.
    private func queue(_ bytes: [UInt8]) throws -> Bool {
        guard let h = handle, !closing else { throw failure ?? GaleError.closed("write") }
        if bytes.isEmpty { return false }
        let r = bytes.withUnsafeBytes { gale_stream_write(h, $0.baseAddress!, $0.count) }
        if r < 0 { throw failure ?? GaleError(code: r, operation: "write") }
        return r == 1
    }

    private func waitWritable() async throws {
        try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Void, any Error>) in
            writers.append(cont)
        }
    }

    private func resumeWriters(_ error: (any Error)?) {
        let ws = writers
        writers = []
        for w in ws {
            if let error { w.resume(throwing: error) } else { w.resume() }
        }
    }

    // MARK: closing

    /// Give the connection back (``TCPStream/detach()``): a duplicate of the descriptor and the
    /// bytes read from it but not consumed. The stream then closes its own descriptor; the
    /// connection lives on in the duplicate. Refused while output is still queued.
    func detach() throws(GaleError) -> (fd: Int32, unread: [UInt8]) {
        guard let h = handle, !closing else { throw failure ?? GaleError.closed("detach") }
        let queued = gale_stream_write_queue(h)
        if queued > 0 {
            throw GaleError(kind: .invalidArgument, operation: "detach",
                            message: "\(queued) bytes are still queued for sending; wait until queuedBytes is 0")
        }
        let fd = fcntl(gale_stream_fd(h), F_DUPFD_CLOEXEC, 0)
        if fd < 0 { throw GaleError.fromErrno("detach") }
        let unread = Array(inbox[head...])
        inbox = []
        head = 0
        close(graceful: false)
        return (fd, unread)
    }

    func shutdownWrite() {
        if let h = handle, !closing { _ = gale_stream_shutdown(h) }
    }

    func close(graceful: Bool) {
        guard let h = handle else { return }
        if closing && graceful { return }
        closing = true
        if failure == nil { failure = GaleError.closed("stream") }
        if graceful { gale_stream_close_after_flush(h, 0) } else { gale_stream_close(h) }
        failPending()
    }

    private func failPending() {
        let f = failure ?? GaleError.closed("stream")
        if let r = reader {
            reader = nil
            r.cont.resume(throwing: f)
        }
        resumeWriters(f)
    }

    // MARK: C callbacks

    fileprivate func onData(_ bytes: UnsafeRawBufferPointer) {
        inbox.append(contentsOf: bytes)
        serviceReader()
        applyBackpressure()
    }

    fileprivate func onEOF() {
        eof = true
        serviceReader()
    }

    fileprivate func onWritable() { resumeWriters(nil) }

    fileprivate func onError(_ code: Int32) {
        if failure == nil { failure = GaleError(code: code, operation: "stream") }
        serviceReader()
        resumeWriters(failure)
        close(graceful: false)
    }

    fileprivate func onTimeout(_ which: Int32) {
        let what = which == Int32(GALE_TIMEOUT_READ) ? "read" : which == Int32(GALE_TIMEOUT_WRITE) ? "write" : "idle"
        if failure == nil {
            failure = GaleError(kind: .timeout, operation: what, message: "the \(what) timeout elapsed", errno: ETIMEDOUT)
        }
        close(graceful: false)
    }

    fileprivate func onClose() {
        handle = nil
        closing = true
        if failure == nil { failure = GaleError.closed("stream") }
        failPending()
    }
}

@inline(__always)
private func core(_ ud: UnsafeMutableRawPointer?) -> StreamCore {
    Unmanaged<StreamCore>.fromOpaque(ud!).takeUnretainedValue()
}

nonisolated(unsafe) private let streamCallbacks: UnsafeMutablePointer<gale_stream_callbacks> = {
    let p = UnsafeMutablePointer<gale_stream_callbacks>.allocate(capacity: 1)
    p.initialize(to: gale_stream_callbacks(
        on_data: { _, data, len, ud in core(ud).onData(UnsafeRawBufferPointer(start: data, count: len)) },
        on_eof: { _, ud in core(ud).onEOF() },
        on_writable: { _, ud in core(ud).onWritable() },
        on_error: { _, err, ud in core(ud).onError(err) },
        on_timeout: { _, which, ud in core(ud).onTimeout(which) },
        on_close: { _, ud in core(ud).onClose() }
    ))
    return p
}()

private let releaseCore: gale_free_fn = { ud in
    Unmanaged<StreamCore>.fromOpaque(ud!).release()
}
