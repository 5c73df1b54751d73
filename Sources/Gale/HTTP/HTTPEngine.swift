import CGale

/// One libcore HTTP server on one loop, serving an `Application`. Loop thread only.
///
/// Each connection gets one long-lived task (on the loop, via executor preference) that
/// waits for the connection's next request in a single-slot continuation: no task and no
/// allocation per request. libcore runs the loop's deferred queue right after delivering a
/// request, which is where that task resumes, so a handler that does not await finishes its
/// response before the read callback returns.
final class HTTPEngine: @unchecked Sendable {
    let loop: EventLoop
    let app: Application
    private(set) var raw: OpaquePointer?
    private var stopWaiters: [UnsafeContinuation<Void, Never>] = []

    // Connections whose task waits for a request, oldest first (an intrusive list). A task idle
    // longer than `idleTaskLimit` ends; the connection's next request starts a new one. Busy
    // keep-alive connections keep theirs; idle ones cost no task memory.
    fileprivate var idleHead: HTTPConnection?
    fileprivate var idleTail: HTTPConnection?
    private var sweeper: Scheduled?
    static let idleTaskLimit: Duration = .seconds(1)

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

    /// Graceful stop: no new connections, requests in flight finish (up to `deadline`), then
    /// every connection is gone. Loop thread; the continuation resumes on the loop.
    func shutdown(deadline: Duration, _ done: UnsafeContinuation<Void, Never>) {
        guard let raw else { return done.resume() }
        stopWaiters.append(done)
        if stopWaiters.count > 1 { return }
        gale_http_server_shutdown(raw, deadline.nanoseconds, { ud in
            let engine = Unmanaged<HTTPEngine>.fromOpaque(ud!).takeUnretainedValue()
            engine.sweeper?.cancel()
            engine.sweeper = nil
            let ws = engine.stopWaiters
            engine.stopWaiters = []
            if let raw = engine.raw {
                engine.raw = nil
                gale_http_server_free(raw) // releases the engine's retained reference
            }
            for w in ws { w.resume() }
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    // MARK: C callbacks (loop thread)

    fileprivate func connection(for req: OpaquePointer) -> HTTPConnection {
        if let ud = gale_http_request_connection_ud(req) {
            return Unmanaged<HTTPConnection>.fromOpaque(ud).takeUnretainedValue()
        }
        let conn = HTTPConnection(engine: self)
        gale_http_request_set_connection_ud(req, Unmanaged.passRetained(conn).toOpaque(), releaseConnection)
        return conn
    }

    /// Start the connection's task; it enters the actor (on this loop) once.
    fileprivate func startTask(_ conn: HTTPConnection) {
        Task(executorPreference: loop) { await conn.run() }
        if sweeper == nil {
            sweeper = loop.every(Self.idleTaskLimit) { [weak self] in self?.sweepIdleTasks() }
        }
    }

    fileprivate func linkIdle(_ c: HTTPConnection) {
        c.idleSince = gale_now_ns()
        c.idlePrev = idleTail
        c.idleNext = nil
        if let t = idleTail { t.idleNext = c } else { idleHead = c }
        idleTail = c
        c.inIdleList = true
    }

    fileprivate func unlinkIdle(_ c: HTTPConnection) {
        guard c.inIdleList else { return }
        if let p = c.idlePrev { p.idleNext = c.idleNext } else { idleHead = c.idleNext }
        if let n = c.idleNext { n.idlePrev = c.idlePrev } else { idleTail = c.idlePrev }
        c.idlePrev = nil
        c.idleNext = nil
        c.inIdleList = false
    }

    private func sweepIdleTasks() {
        let limit = Self.idleTaskLimit.nanoseconds, now = gale_now_ns()
        while let c = idleHead, now - c.idleSince >= limit {
            unlinkIdle(c)
            c.endIdleTask()
        }
    }

    fileprivate func onHead(_ req: OpaquePointer) -> Int32 {
        let conn = connection(for: req)
        let path = string(gale_http_request_path(req))
        let match = app.route(path)
        conn.routed = (path, match)
        let streams = match?.route.handler.streamsRequestBody ?? false
        return streams ? Int32(GALE_HTTP_BODY_STREAM) : Int32(GALE_HTTP_BODY_BUFFER)
    }
}

/// A connection's Swift side: the slot its next request waits in, and the state of the
/// response in progress. libcore holds a reference (connection user data) until the
/// connection is gone.
///
/// An actor whose executor is the loop: the connection's task runs isolated to it, so the
/// caller-isolated functions it calls (serving, the handler) return to the same serial
/// executor without a task switch. Its state is touched only on the loop thread, by that task
/// and by C callbacks (which run there too), hence `nonisolated(unsafe)`.
actor HTTPConnection {
    nonisolated let engine: HTTPEngine
    @exclusivity(unchecked) nonisolated(unsafe) private var slot: OpaquePointer?
    @exclusivity(unchecked) nonisolated(unsafe) private var waiter: UnsafeContinuation<RequestRef?, Never>?
    @exclusivity(unchecked) nonisolated(unsafe) private var closed = false
    /// The route found when the head arrived (for requests with a body).
    @exclusivity(unchecked) nonisolated(unsafe) var routed: (path: String, match: Application.Match?)?
    /// The client went away during the current response.
    @exclusivity(unchecked) nonisolated(unsafe) private(set) var aborted = false
    @exclusivity(unchecked) nonisolated(unsafe) private var writableWaiter: UnsafeContinuation<Void, any Error>?
    @exclusivity(unchecked) nonisolated(unsafe) private var body: RequestBodyStream?
    @exclusivity(unchecked) nonisolated(unsafe) private var currentRequest: OpaquePointer?
    /// Whether a task serves this connection now (it ends after a second of idleness).
    @exclusivity(unchecked) nonisolated(unsafe) private var hasTask = false
    // The engine's list of connections waiting for a request.
    @exclusivity(unchecked) nonisolated(unsafe) fileprivate var idlePrev: HTTPConnection?
    @exclusivity(unchecked) nonisolated(unsafe) fileprivate var idleNext: HTTPConnection?
    @exclusivity(unchecked) nonisolated(unsafe) fileprivate var idleSince: UInt64 = 0
    @exclusivity(unchecked) nonisolated(unsafe) fileprivate var inIdleList = false

    init(engine: HTTPEngine) { self.engine = engine }

    nonisolated var unownedExecutor: UnownedSerialExecutor { engine.loop.asUnownedSerialExecutor() }

    /// Serve requests until the connection is gone, or idle long enough to give its task up.
    func run() async {
        while let ref = await next() {
            aborted = false
            await engine.app.serve(ref.raw, on: self)
            body = nil
        }
    }

    private func next() async -> RequestRef? {
        if let r = slot {
            slot = nil
            return RequestRef(raw: r)
        }
        if closed { return nil }
        engine.linkIdle(self)
        return await withUnsafeContinuation { waiter = $0 }
    }

    nonisolated fileprivate func deliver(_ req: OpaquePointer) {
        currentRequest = req
        if let w = waiter {
            waiter = nil
            engine.unlinkIdle(self)
            w.resume(returning: RequestRef(raw: req))
        } else {
            slot = req
            if !hasTask {
                hasTask = true
                engine.startTask(self)
            }
        }
    }

    /// The task has waited a while for nothing: let it end (its memory goes with it). Decided
    /// here, so a request arriving before that task runs again starts a new one.
    nonisolated fileprivate func endIdleTask() {
        hasTask = false
        if let w = waiter {
            waiter = nil
            w.resume(returning: nil)
        }
    }

    nonisolated fileprivate func gone() {
        closed = true
        engine.unlinkIdle(self)
        if let w = waiter {
            waiter = nil
            w.resume(returning: nil)
        }
    }

    /// Wait until the response's queue drains below its low-water mark.
    nonisolated func waitWritable() async throws {
        if aborted { throw GaleError.closed("write") }
        try await withUnsafeThrowingContinuation { writableWaiter = $0 }
    }

    nonisolated fileprivate func writable() {
        if let w = writableWaiter {
            writableWaiter = nil
            w.resume()
        }
    }

    nonisolated fileprivate func abort(_ err: Int32) {
        aborted = true
        if let w = writableWaiter {
            writableWaiter = nil
            w.resume(throwing: GaleError(code: err, operation: "write"))
        }
        body?.fail(GaleError(code: err, operation: "read body"))
    }

    /// The streamed body of the current request.
    nonisolated func requestBody() -> RequestBodyStream {
        if let b = body { return b }
        let b = RequestBodyStream(connection: self)
        body = b
        return b
    }

    nonisolated fileprivate func pauseBody() { if let r = currentRequest { gale_http_request_pause_body(r) } }
    nonisolated fileprivate func resumeBody() { if let r = currentRequest { gale_http_request_resume_body(r) } }
}

/// A C request handed from the callback to the connection's task: both on the loop thread.
struct RequestRef: @unchecked Sendable {
    let raw: OpaquePointer
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
            engine(ud).connection(for: req).deliver(req)
        },
        on_body: { req, data, len, _ in
            existingConnection(req)?.requestBody().append(UnsafeRawBufferPointer(start: data, count: len))
        },
        on_body_end: { req, _ in existingConnection(req)?.requestBody().finish() },
        on_writable: { req, _ in existingConnection(req)?.writable() },
        on_abort: { req, err, _ in existingConnection(req)?.abort(err) }
    ))
    return p
}()

private let releaseEngine: gale_free_fn = { ud in
    Unmanaged<HTTPEngine>.fromOpaque(ud!).release()
}

private let releaseConnection: gale_free_fn = { ud in
    let conn = Unmanaged<HTTPConnection>.fromOpaque(ud!).takeRetainedValue()
    conn.gone()
}
