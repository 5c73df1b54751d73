import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libcore HTTP server on one loop, serving an `Application`. Loop thread only.
///
/// Requests are served by a pool of worker tasks, isolated to an actor whose executor is the
/// loop: C's `on_request` queues the request and wakes an idle worker (or starts one; from
/// inside a running worker, only if that worker has not taken it by the time its job returns).
/// A worker that finishes a request takes the next queued one without suspending; workers number
/// the requests in flight at once, not the open connections, so an idle keep-alive connection
/// costs no task. libcore runs the loop's deferred queue right after delivering a request,
/// which is where a woken worker runs, so a handler that does not await finishes its response
/// before the read callback returns. The actor is reentrant: a handler that awaits lets the
/// other workers (and connections) go on.
final class HTTPEngine: @unchecked Sendable {
    let loop: EventLoop
    let app: Application
    private(set) var raw: OpaquePointer?
    private var stopWaiters: [UnsafeContinuation<Void, Never>] = []
    private(set) lazy var workers = HTTPWorkers(loop: loop, app: app)

    init(loop: EventLoop, app: Application) {
        self.loop = loop
        self.app = app
    }

    /// Create the C server. Loop thread.
    func start() throws {
        var cfg = app.settings.cConfig()
        var server: OpaquePointer?
        let me = Unmanaged.passRetained(self).toOpaque()
        let r = app.settings.serverName.withCString { name -> Int32 in
            cfg.server_name = name // copied by libcore
            return gale_http_server_new(loop.raw, &cfg, httpCallbacks, me, releaseEngine, &server)
        }
        if r < 0 {
            Unmanaged<HTTPEngine>.fromOpaque(me).release()
            throw GaleError(code: r, operation: "create HTTP server")
        }
        raw = server
    }

    /// Listen on host:port. Loop thread.
    func listen(host: String?, port: Int, reusePort: Bool, backlog: Int?) throws -> SocketAddress {
        guard let raw else { throw GaleError.closed("listen") }
        var l: OpaquePointer?
        let flags: UInt32 = reusePort ? UInt32(GALE_LISTEN_REUSEPORT) : 0
        let r = gale_http_server_listen(raw, host, Int32(clamping: port), Int32(clamping: backlog ?? -1), flags, &l)
        if r < 0 { throw GaleError(code: r, operation: "listen on \(host ?? "*"):\(port)") }
        var a = gale_addr()
        _ = gale_listener_addr(l!, 0, &a)
        return SocketAddress(raw: a)
    }

    /// Serve an already listening socket (the engine owns `fd` from now on). Loop thread.
    func listen(fd: Int32) throws -> SocketAddress {
        guard let raw else {
            close(fd)
            throw GaleError.closed("listen")
        }
        var l: OpaquePointer?
        let r = gale_http_server_listen_fd(raw, fd, &l)
        if r < 0 { throw GaleError(code: r, operation: "listen on inherited socket \(fd)") }
        var a = gale_addr()
        _ = gale_listener_addr(l!, 0, &a)
        return SocketAddress(raw: a)
    }

    /// Graceful stop: no new connections, requests in flight finish (up to `deadline`), then
    /// every connection is gone. Loop thread; the continuation resumes on the loop.
    func shutdown(deadline: Duration, _ done: UnsafeContinuation<Void, Never>) {
        guard let raw else { return done.resume() }
        stopWaiters.append(done)
        if stopWaiters.count > 1 { return }
        gale_http_server_shutdown(raw, deadline.nanoseconds, { ud in
            let engine = Unmanaged<HTTPEngine>.fromOpaque(ud!).takeUnretainedValue()
            let ws = engine.stopWaiters
            engine.stopWaiters = []
            engine.workers.retire()
            if let raw = engine.raw {
                engine.raw = nil
                gale_http_server_free(raw) // releases the engine's retained reference
            }
            for w in ws { w.resume() }
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    // MARK: C callbacks (loop thread)

    fileprivate func connection(for req: OpaquePointer) -> HTTPConnection {
        Unmanaged<HTTPConnection>.fromOpaque(connectionRef(for: req)).takeUnretainedValue()
    }

    /// The connection's Swift side (made on its first request), as the reference libcore holds.
    fileprivate func connectionRef(for req: OpaquePointer) -> UnsafeMutableRawPointer {
        if let ud = gale_http_request_connection_ud(req) { return ud }
        let ud = Unmanaged.passRetained(HTTPConnection(application: app)).toOpaque()
        gale_http_request_set_connection_ud(req, ud, releaseConnection)
        return ud
    }

    /// A request delivered: route it, bind its handler, and serve it here (a synchronous
    /// handler) or hand it to a worker. The engine and the connection are borrowed from the
    /// references libcore holds: no retain or release for either.
    fileprivate func deliver(_ req: OpaquePointer) {
        Unmanaged<HTTPConnection>.fromOpaque(connectionRef(for: req))._withUnsafeGuaranteedRef { conn in
            conn.beginRequest(req)
            // Inline unless this callback runs inside a worker's job (a pipelined request
            // handed over as that worker's response ended): the worker takes it next, so the
            // responses' onFinish and log lines keep the requests' order.
            var (handler, inline) = app.handler(for: req, on: conn, inlineAllowed: loop.runningJobs == 0)
            if inline {
                app.serveNow(unsafeDowncast(handler, to: SyncRequestHandler.self), on: conn)
                // libcore's copy of the head goes when this callback returns: a request (or a
                // handler) that user code kept needs its own.
                if !isKnownUniquelyReferenced(&handler) || handler.requestIsShared { handler.request.detach() }
            } else {
                workers.submit(handler)
            }
        }
    }

    fileprivate func onHead(_ req: OpaquePointer) -> Int32 {
        let conn = connection(for: req)
        let p = gale_http_request_path(req)
        let path = UnsafeRawBufferPointer(start: p.ptr, count: p.len)
        let match = app.route(path)
        conn.routed = RoutedHead(path: Array(path), match: match)
        let streams = match?.route.handler.streamsRequestBody ?? false
        return streams ? Int32(GALE_HTTP_BODY_STREAM) : Int32(GALE_HTTP_BODY_BUFFER)
    }
}

/// The engine's worker tasks: an actor on the loop's executor, so everything a worker calls
/// (serving, the handler) runs isolated to it, with no task switch on the way back. Its state
/// is touched only on the loop thread, by workers and by C callbacks (which run there too),
/// hence `nonisolated(unsafe)`.
actor HTTPWorkers {
    // The loop and the application, not the engine: the engine holds the workers.
    nonisolated let loop: EventLoop
    nonisolated let app: Application
    // Requests waiting for a worker, FIFO: slots [head, tail) of `queue`; slots are reused, so
    // a steady state allocates nothing.
    @exclusivity(unchecked) nonisolated(unsafe) private var queue: [QueuedRequest] = []
    @exclusivity(unchecked) nonisolated(unsafe) private var head = 0
    @exclusivity(unchecked) nonisolated(unsafe) private var tail = 0
    @exclusivity(unchecked) nonisolated(unsafe) private var idle: [UnsafeContinuation<Bool, Never>] = []
    @exclusivity(unchecked) nonisolated(unsafe) private var retired = false
    /// Workers woken or started for queued requests that have not reached the queue yet.
    @exclusivity(unchecked) nonisolated(unsafe) private var waking = 0
    /// A deferred dispatch() is pending.
    @exclusivity(unchecked) nonisolated(unsafe) private var checkScheduled = false
    /// Idle workers kept for the next burst; more than that end.
    private static let keepIdle = 16

    init(loop: EventLoop, app: Application) {
        self.loop = loop
        self.app = app
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    /// Queue a request and see that a worker will take it. Loop thread (C callback).
    ///
    /// Which worker is decided after the job or callback that queued it returns (a deferred
    /// check): a worker whose finished response pumped the next pipelined request takes that
    /// request itself when it loops, so waking another one for it would be a wasted task switch.
    nonisolated func submit(_ handler: RequestHandler) {
        let item = QueuedRequest(handler: handler)
        if tail < queue.count { queue[tail] = item } else { queue.append(item) }
        tail += 1
        if checkScheduled { return }
        // From a read callback, outside any job, no worker is running that could take it.
        if loop.runningJobs == 0 { return dispatch() }
        checkScheduled = true
        let me = Unmanaged.passRetained(self).toOpaque()
        if gale_loop_defer(loop.raw, dispatchQueued, me) != 0 {
            Unmanaged<HTTPWorkers>.fromOpaque(me).release()
            dispatch()
        }
    }

    /// Wake (or start) a worker for each queued request that no worker took or is about to take.
    /// Loop thread, outside any job.
    nonisolated func dispatch() {
        checkScheduled = false
        var unclaimed = tail - head - waking
        while unclaimed > 0 {
            unclaimed -= 1
            waking += 1
            if !idle.isEmpty {
                idle.removeLast().resume(returning: true)
            } else {
                // Every worker is busy (or none exists yet): one more, for as long as it is needed.
                Task(executorPreference: loop) { await self.work() }
            }
        }
    }

    /// No more requests will come: idle workers end.
    nonisolated func retire() {
        retired = true
        let ws = idle
        idle = []
        for w in ws { w.resume(returning: false) }
    }

    private func work() async {
        waking -= 1
        while true {
            while head < tail {
                let handler = queue[head].handler!
                queue[head].handler = nil // nothing is kept alive by a spent slot
                head += 1
                if head == tail { head = 0; tail = 0 }
                await app.serve(handler)
            }
            if retired || idle.count >= Self.keepIdle { break }
            if !(await withUnsafeContinuation({ idle.append($0) })) { break }
            waking -= 1
        }
    }
}

/// The deferred check after requests were queued (ud: the workers, retained by submit).
private func dispatchQueued(_ ud: UnsafeMutableRawPointer?) {
    Unmanaged<HTTPWorkers>.fromOpaque(ud!).takeRetainedValue().dispatch()
}

/// A connection's Swift side: the state of the response in progress. libcore holds a
/// reference (connection user data) until the connection is gone. Loop thread only.
final class HTTPConnection: @unchecked Sendable {
    /// The application it serves (its handlers reach it here: one reference per connection,
    /// not one per request).
    let application: Application
    /// The route found when the head arrived (for requests with a body).
    @exclusivity(unchecked) var routed: RoutedHead?
    /// The client went away during the current response.
    @exclusivity(unchecked) private(set) var aborted = false
    @exclusivity(unchecked) private var writableWaiter: UnsafeContinuation<Void, any Error>?
    @exclusivity(unchecked) private var body: RequestBodyStream?
    @exclusivity(unchecked) fileprivate var currentRequest: OpaquePointer?
    /// The handler serving the current request, while it runs (serve() holds it and clears this
    /// after): told when the client goes.
    @exclusivity(unchecked) unowned(unsafe) var handler: RequestHandler?
    // The last entity tag made on this connection: a page served again reuses its String.
    @exclusivity(unchecked) private var lastEtag: String?

    init(application: Application) { self.application = application }

    /// The entity tag (42 characters at `tag`) as a String, reusing the last one if equal.
    func etagString(_ tag: UnsafePointer<CChar>) -> String {
        if let e = lastEtag,
           e.utf8.withContiguousStorageIfAvailable({ $0.count == 42 && memcmp($0.baseAddress!, tag, 42) == 0 }) == true {
            return e
        }
        let e = String(cString: tag)
        lastEtag = e
        return e
    }

    /// A new request on this connection: what belonged to the previous one goes (its handler
    /// may still be running after its response ended, but it is no longer this request's).
    fileprivate func beginRequest(_ req: OpaquePointer) {
        currentRequest = req
        aborted = false
        body = nil
        handler = nil
    }

    /// Wait until the response's queue drains below its low-water mark.
    func waitWritable() async throws {
        if aborted { throw GaleError.closed("write") }
        try await withUnsafeThrowingContinuation { writableWaiter = $0 }
    }

    fileprivate func writable() {
        if let w = writableWaiter {
            writableWaiter = nil
            w.resume()
        }
    }

    fileprivate func abort(_ err: Int32) {
        aborted = true
        if let w = writableWaiter {
            writableWaiter = nil
            w.resume(throwing: GaleError(code: err, operation: "write"))
        }
        body?.fail(GaleError(code: err, operation: "read body"))
        handler?.connectionClosed()
    }

    /// The client closed its side while a request was in flight (it has probably gone).
    fileprivate func peerClosed() { handler?.connectionClosed() }

    /// The streamed body of the current request.
    func requestBody() -> RequestBodyStream {
        if let b = body { return b }
        let b = RequestBodyStream(connection: self)
        body = b
        return b
    }

    fileprivate func pauseBody() { if let r = currentRequest { gale_http_request_pause_body(r) } }
    fileprivate func resumeBody() { if let r = currentRequest { gale_http_request_resume_body(r) } }
}

/// The route found for a head whose body is still to come (a class: most requests have none,
/// and an empty reference costs nothing to test or clear).
final class RoutedHead {
    let path: [UInt8]
    let match: Application.Match?
    init(path: [UInt8], match: Application.Match?) {
        self.path = path
        self.match = match
    }
}

/// A request waiting for a worker, its handler bound to it (loop thread only).
struct QueuedRequest: @unchecked Sendable {
    var handler: RequestHandler?
}

/// A streamed request body as chunks, with backpressure: past 1 MiB waiting, the socket is
/// no longer read until the handler catches up.
final class RequestBodyStream: AsyncSequence, @unchecked Sendable {
    typealias Element = [UInt8]
    private unowned let connection: HTTPConnection
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var buffered = 0
    private var done = false
    private var failure: (any Error)?
    private var waiter: UnsafeContinuation<[UInt8]?, any Error>?
    private var paused = false
    private static let high = 1 << 20, low = 256 << 10

    init(connection: HTTPConnection) { self.connection = connection }

    func append(_ bytes: UnsafeRawBufferPointer) {
        let chunk = Array(bytes)
        if let w = waiter {
            waiter = nil
            return w.resume(returning: chunk)
        }
        chunks.append(chunk)
        buffered += chunk.count
        if buffered >= Self.high && !paused {
            paused = true
            connection.pauseBody()
        }
    }

    func finish() {
        done = true
        if let w = waiter {
            waiter = nil
            w.resume(returning: nil)
        }
    }

    func fail(_ error: any Error) {
        failure = error
        if let w = waiter {
            waiter = nil
            w.resume(throwing: error)
        }
    }

    func next() async throws -> [UInt8]? {
        if head < chunks.count {
            let c = chunks[head]
            head += 1
            buffered -= c.count
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            }
            if paused && buffered <= Self.low {
                paused = false
                connection.resumeBody()
            }
            return c
        }
        if let failure { throw failure }
        if done { return nil }
        return try await withUnsafeThrowingContinuation { waiter = $0 }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let stream: RequestBodyStream
        mutating func next() async throws -> [UInt8]? { try await stream.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

@inline(__always)
private func engine(_ ud: UnsafeMutableRawPointer?) -> HTTPEngine {
    Unmanaged<HTTPEngine>.fromOpaque(ud!).takeUnretainedValue()
}

@inline(__always)
private func existingConnection(_ req: OpaquePointer) -> HTTPConnection? {
    gale_http_request_connection_ud(req).map { Unmanaged<HTTPConnection>.fromOpaque($0).takeUnretainedValue() }
}

nonisolated(unsafe) private let httpCallbacks: UnsafeMutablePointer<gale_http_callbacks> = {
    let p = UnsafeMutablePointer<gale_http_callbacks>.allocate(capacity: 1)
    p.initialize(to: gale_http_callbacks(
        on_head: { req, ud in engine(ud).onHead(req) },
        on_request: { req, ud in
            Unmanaged<HTTPEngine>.fromOpaque(ud!)._withUnsafeGuaranteedRef { $0.deliver(req) }
        },
        on_body: { req, data, len, _ in
            existingConnection(req)?.requestBody().append(UnsafeRawBufferPointer(start: data, count: len))
        },
        on_body_end: { req, _ in existingConnection(req)?.requestBody().finish() },
        on_writable: { req, _ in existingConnection(req)?.writable() },
        on_abort: { req, err, _ in existingConnection(req)?.abort(err) },
        on_peer_eof: { req, _ in existingConnection(req)?.peerClosed() }
    ))
    return p
}()

private let releaseEngine: gale_free_fn = { ud in
    Unmanaged<HTTPEngine>.fromOpaque(ud!).release()
}

private let releaseConnection: gale_free_fn = { ud in
    Unmanaged<HTTPConnection>.fromOpaque(ud!).release()
}
