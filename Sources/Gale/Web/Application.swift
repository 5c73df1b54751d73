import CGale
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A web application: routes from path patterns to handler classes, and settings, like
/// Tornado's `tornado.web.Application`.
///
/// ```swift
/// final class MainHandler: RequestHandler {
///     override func get() async throws { write("Hello, world") }
/// }
/// let application = try Application([
///     ("/", MainHandler.self),
///     ("/story/([0-9]+)", StoryHandler.self),
/// ])
/// try await application.listen(8888)
/// try await application.run()   // until SIGINT/SIGTERM, then a graceful stop
/// ```
public final class Application: Sendable {
    /// Routes, tried in order; the first whose pattern matches the whole path serves it.
    public let routes: [Route]
    public let settings: Settings
    /// The lowest status the access log shows at the logger's level when the application was
    /// made (asking the logger costs an existential copy per request): 500 at .error, 400 at
    /// .warning (and .notice, .info), every one at .debug.
    private let leastLoggedStatus: Int
    /// settings.defaultHeaders is not empty (asked once per response).
    let hasDefaultHeaders: Bool
    private let state = Mutex(State())

    private struct State {
        var engines: [HTTPEngine] = []
        var ownedLoops: [EventLoop] = []
        var stopped = false
    }

    /// An application from (pattern, handler) pairs, as Tornado takes them. Throws if a
    /// pattern is not a valid regular expression.
    public convenience init(_ handlers: [(String, RequestHandler.Type)], settings: Settings = Settings()) throws {
        try self.init(routes: handlers.map { try Route($0.0, $0.1) }, settings: settings)
    }

    public init(routes: [Route], settings: Settings = Settings()) throws {
        // Checked once here: a bad default header would otherwise spoil every response.
        for (name, value) in settings.defaultHeaders where !HeaderText.isAllowed(name, value) {
            throw GaleError(kind: .invalidArgument, operation: "Application",
                            message: "default header \(name) cannot be sent (not a token, a character a header cannot hold, or framing the server sets itself)")
        }
        self.routes = routes
        self.settings = settings
        let level = settings.logger.logLevel
        leastLoggedStatus = level <= .debug ? Int.min : level <= .warning ? 400 : level <= .error ? 500 : Int.max
        hasDefaultHeaders = !settings.defaultHeaders.isEmpty
    }

    // MARK: Serving

    /// Start serving on `port` (0 picks a free one) and return at once with the bound address,
    /// like Tornado's `listen`. `address` "" listens on every interface. With `loops` > 1,
    /// that many loops (threads) each accept on their own SO_REUSEPORT socket. Call `run()`
    /// (or keep the process alive another way) to go on serving.
    @discardableResult
    public func listen(_ port: Int, address: String = "", loops: Int = 1, backlog: Int? = nil) async throws -> SocketAddress {
        return try await listen(port, address: address, on: makeLoops(loops), backlog: backlog)
    }

    /// The shared loop, or `n` loops of the application's own (stopped with it).
    private func makeLoops(_ n: Int) throws -> [EventLoop] {
        precondition(n >= 1, "listen needs at least one loop")
        if n == 1 { return [try EventLoop.shared] }
        var made: [EventLoop] = []
        for i in 0..<n { made.append(try EventLoop(name: "gale-http-\(i)")) }
        state.withLock { $0.ownedLoops += made }
        return made
    }

    private func checkNotStopped() throws {
        if state.withLock({ $0.stopped }) {
            throw GaleError(kind: .closed, operation: "listen", message: "the application has been stopped")
        }
    }

    /// Start serving on `port` on the given loops (one SO_REUSEPORT socket each when several).
    @discardableResult
    public func listen(_ port: Int, address: String = "", on loops: [EventLoop], backlog: Int? = nil) async throws -> SocketAddress {
        precondition(!loops.isEmpty, "listen needs at least one loop")
        try checkNotStopped()
        let reuse = loops.count > 1
        var bound: SocketAddress?
        for loop in loops {
            let p = bound?.port ?? port
            let host: String? = address.isEmpty ? nil : address
            bound = try await loop.submit { [self] in
                let engine = try engine(on: loop)
                return try engine.listen(host: host, port: p, reusePort: reuse, backlog: backlog)
            }
        }
        return bound!
    }

    /// Serve what arrives on an already listening socket - one passed by systemd socket
    /// activation (see `SocketActivation`) or by a supervisor that keeps it across restarts -
    /// on `loops` loops (threads), each accepting from it. The application owns `fd` now.
    @discardableResult
    public func listen(socket fd: Int32, loops: Int = 1) async throws -> SocketAddress {
        let eventLoops: [EventLoop]
        do {
            try checkNotStopped()
            eventLoops = try makeLoops(loops)
        } catch {
            close(fd) // the application owns fd from the call on
            throw error
        }
        var bound: SocketAddress?
        for (i, loop) in eventLoops.enumerated() {
            let mine = i == 0 ? fd : dup(fd) // one descriptor per loop's listener
            if mine < 0 { throw GaleError.fromErrno("dup listening socket") }
            bound = try await loop.submit { [self] in
                do {
                    return try engine(on: loop).listen(fd: mine)
                } catch {
                    close(mine) // engine(on:) failed before the engine took it
                    throw error
                }
            }
        }
        return bound!
    }

    /// The engine serving this loop, created on first use. Loop thread.
    private func engine(on loop: EventLoop) throws -> HTTPEngine {
        if let e = state.withLock({ s in s.engines.first { $0.loop === loop } }) { return e }
        let e = HTTPEngine(loop: loop, app: self)
        try e.start()
        state.withLock { $0.engines.append(e) }
        return e
    }

    /// Serve until SIGINT or SIGTERM, then stop gracefully (like Tornado's `IOLoop.start()`
    /// followed by a clean shutdown).
    public func run(gracePeriod: Duration = .seconds(10)) async throws {
        let first = state.withLock { $0.engines.first?.loop }
        let loop = try first ?? EventLoop.shared
        let signal = try await loop.waitForSignal()
        settings.logger.info("signal \(signal): stopping")
        await stop(gracePeriod: gracePeriod)
    }

    /// Stop accepting, let requests in flight finish (up to `gracePeriod`, then they are cut
    /// off), close every connection, and shut down loops the application made.
    public func stop(gracePeriod: Duration = .seconds(10)) async {
        let (engines, owned) = state.withLock { s -> ([HTTPEngine], [EventLoop]) in
            s.stopped = true
            let r = (s.engines, s.ownedLoops)
            s.engines = []
            s.ownedLoops = []
            return r
        }
        for e in engines {
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                e.loop.runOnLoop { e.shutdown(deadline: gracePeriod, c) }
            }
        }
        for l in owned { l.shutdown() }
    }

    // MARK: Routing and dispatch

    struct Match: @unchecked Sendable {
        // Routes live as long as the application, which outlives every request it serves.
        unowned(unsafe) let route: Route
        let captures: RouteCaptures?
    }

    /// The first route whose pattern matches the whole path (its bytes as sent). Literal
    /// patterns compare bytes; the path becomes a String only for a regex pattern.
    func route(_ path: UnsafeRawBufferPointer) -> Match? {
        guard path.baseAddress != nil else { return nil } // the parser never gives an empty path
        var text: String?
        for i in routes.indices {
            let route = routes[i]
            if let same = route.matchesLiteral(path) {
                if same { return Match(route: route, captures: nil) }
                continue
            }
            let t = text ?? String(decoding: path, as: UTF8.self)
            text = t
            if let c = route.matchPattern(t) { return Match(route: route, captures: c) }
        }
        return nil
    }

    /// The handler for a request just delivered, bound to it, and whether it runs inline (a
    /// `SyncRequestHandler`, when `inlineAllowed`). Loop thread.
    @inline(__always)
    func handler(for raw: OpaquePointer, on connection: HTTPConnection, inlineAllowed: Bool) -> (RequestHandler, inline: Bool) {
        let start = monotonicNanoseconds()
        let request = HTTPServerRequest(raw: raw)
        let match: Match?
        let path = request.pathBytes
        if let routed = connection.routed {
            connection.routed = nil
            // Routed when the head came (a request with a body), unless that one never arrived.
            match = routed.path.elementsEqual(path) ? routed.match : route(path)
        } else {
            match = route(path)
        }
        let handler: RequestHandler
        let inline: Bool
        if let match {
            handler = match.route.handler.init()
            inline = match.route.servesInline
            request.captures = match.captures
        } else {
            handler = NotFoundHandler()
            inline = true
        }
        let servedInline = inline && inlineAllowed
        request.servedInline = servedInline
        handler.bind(request: request, connection: connection, raw: raw, start: start)
        connection.handler = handler
        return (handler, servedInline)
    }

    /// Serve a request on a worker task (loop thread).
    // Inlined into the worker: one async frame and one task switch less per request.
    @inline(__always) func serve(_ handler: RequestHandler) async {
        await handler.execute()
        served(handler, on: handler.connection)
    }

    /// Serve a request whose handler never awaits, from the read callback (loop thread).
    @inline(__always) func serveNow(_ handler: SyncRequestHandler, on connection: HTTPConnection) {
        handler.executeNow()
        served(handler, on: connection)
    }

    /// A handler is done: its connection forgets it, and the access log.
    @inline(__always)
    private func served(_ handler: RequestHandler, on connection: HTTPConnection) {
        if connection.handler === handler { connection.handler = nil } // not if a new request began
        if handler.statusCode >= leastLoggedStatus { logAccess(handler) }
    }

    /// Tornado's access log levels: errors show, successes only when asked for.
    private func logAccess(_ handler: RequestHandler) {
        let status = handler.statusCode
        let level: Logger.Level = status >= 500 ? .error : status >= 400 ? .warning : .debug
        let request = handler.request
        let ms = Double(monotonicNanoseconds() &- handler.startTime) / 1e6
        settings.logger.log(level: level, "\(status) \(request.method) \(request.uri) (\(request.remoteIP)) \(Int(ms * 100) / 100)ms")
    }
}

private func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Application settings (Tornado's keyword arguments to `Application`).
public struct Settings: @unchecked Sendable {
    /// Headers added to every response unless the handler sets them.
    public var defaultHeaders: [(String, String)] = []
    /// The Server header ("" for none).
    public var serverName = "Gale"
    /// Bodies larger than this are answered 413 (Tornado's max_body_size).
    public var maxBodySize = 100 * 1024 * 1024
    /// Request line limit (414) and header block limits (431).
    public var maxRequestLine = 8 * 1024
    public var maxHeaderSize = 64 * 1024
    public var maxHeaderCount = 100
    /// From a request's first byte to its complete head (408 after).
    public var headerTimeout: Duration = .seconds(30)
    /// Between requests on a kept-alive connection (closed after; Tornado's
    /// idle_connection_timeout); also how long a response may wait on a client that stopped
    /// reading it (then the connection closes and a waiting `flush()` throws).
    public var idleTimeout: Duration = .seconds(60)
    /// Without body progress while one is being read (408 after; Tornado's body_timeout).
    public var bodyTimeout: Duration = .seconds(60)
    /// On a graceful stop, how long an idle keep-alive connection may still send one more
    /// request (answered with Connection: close) before it is closed.
    public var drainTimeout: Duration = .seconds(1)
    /// 0 for no limit; past it new connections get 503.
    public var maxConnections = 0
    /// Output queue marks for streaming responses: `flush()` waits above `writeHighWater`.
    public var writeHighWater = 256 * 1024
    public var writeLowWater = 64 * 1024
    /// Where errors, warnings and (at .debug) each request go. The access log (a line per
    /// request) follows the level the logger has when the application is made.
    public var logger = Logger(label: "gale.web")

    public init() {}

    func cConfig() -> gale_http_config {
        var c = gale_http_config()
        c.limits.max_request_line = UInt32(clamping: maxRequestLine)
        c.limits.max_header_bytes = UInt32(clamping: maxHeaderSize)
        c.limits.max_headers = UInt32(clamping: maxHeaderCount)
        c.max_body_size = UInt64(clamping: maxBodySize)
        c.header_timeout_ns = headerTimeout.nanoseconds
        c.idle_timeout_ns = idleTimeout.nanoseconds
        c.body_timeout_ns = bodyTimeout.nanoseconds
        c.max_connections = UInt32(clamping: maxConnections)
        c.write_high_water = writeHighWater
        c.write_low_water = writeLowWater
        c.drain_timeout_ns = drainTimeout.nanoseconds
        return c
    }
}
