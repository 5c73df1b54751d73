/// A request handler whose methods never await, like Tornado's plain `def get(self)`: the
/// fast path for pages computed from the request alone.
///
/// ```swift
/// final class MainHandler: SyncRequestHandler {
///     override func get() throws {
///         write("Hello, world")
///     }
/// }
/// ```
///
/// Its methods run straight from the loop's read callback, with no task, no continuation and
/// no executor hop: a request costs a few thousand instructions less than through an async
/// `RequestHandler`. Everything else is the same (routing, `write`, headers, cookies, Etag and
/// 304, errors as pages); what needs `await` (`flush()`, streaming a response, waiting on
/// anything) needs `RequestHandler`. The async override points are final here, so a subclass
/// cannot override one by mistake and have it ignored. A class that streams its request body
/// (`streamsRequestBody`) is served on a task, with `dataReceived` called for each chunk.
open class SyncRequestHandler: RequestHandler {
    public required init() {}

    // MARK: Override points (synchronous)

    /// Runs before the method (Tornado's `prepare`); finish here to answer early.
    open func prepare() throws {}
    /// A chunk of a streamed body (see `streamsRequestBody`).
    open func dataReceived(_ chunk: [UInt8]) throws {}

    open func get() throws { throw HTTPError(405) }
    open func head() throws { throw HTTPError(405) }
    open func post() throws { throw HTTPError(405) }
    open func put() throws { throw HTTPError(405) }
    open func patch() throws { throw HTTPError(405) }
    open func delete() throws { throw HTTPError(405) }
    open func options() throws { throw HTTPError(405) }

    /// The page sent for an error (Tornado's `write_error`); the default is Tornado's.
    open func writeError(status: Int, error: (any Error)?) throws {
        try finishWithErrorPage(status)
    }

    /// Answer with an error status and its page (Tornado's `send_error`).
    public func sendError(_ status: Int = 500, error: (any Error)? = nil) {
        guard beginErrorPage(status, error: error) else { return }
        do {
            try writeError(status: status, error: error)
        } catch {
            logger.error("writeError failed: \(error)")
        }
        if !finished { try? finish() }
    }

    // MARK: The async override points, bound to the synchronous ones

    // In a synchronous closure only the synchronous overloads can be called.
    @inline(__always) private func now(_ body: () throws -> Void) rethrows { try body() }

    public final override func prepare() async throws { try now { try prepare() } }
    public final override func dataReceived(_ chunk: [UInt8]) async throws { try now { try dataReceived(chunk) } }
    public final override func get() async throws { try now { try get() } }
    public final override func head() async throws { try now { try head() } }
    public final override func post() async throws { try now { try post() } }
    public final override func put() async throws { try now { try put() } }
    public final override func patch() async throws { try now { try patch() } }
    public final override func delete() async throws { try now { try delete() } }
    public final override func options() async throws { try now { try options() } }
    public final override func writeError(status: Int, error: (any Error)?) async throws {
        try now { try writeError(status: status, error: error) }
    }

    // MARK: Internals

    /// Tornado's `_execute` without a task: prepare, the method, finish; errors become error
    /// pages. The response has ended (or been handed to the connection) when this returns.
    final func executeNow() {
        do {
            try prepare()
            if finished { return }
            switch request.method {
            case "GET": try get()
            case "HEAD": try head()
            case "POST": try post()
            case "PUT": try put()
            case "PATCH": try patch()
            case "DELETE": try delete()
            case "OPTIONS": try options()
            default: throw HTTPError(405)
            }
            if !finished { try finish() }
        } catch {
            if let status = errorStatus(error) { sendError(status, error: error) }
        }
        endUnfinished()
    }
}

/// The handler for paths no route matches: Tornado's 404 page.
final class NotFoundHandler: SyncRequestHandler {
    override func prepare() throws { throw HTTPError(404) }
}
