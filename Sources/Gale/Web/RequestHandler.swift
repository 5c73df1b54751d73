import CGale
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The base class for request handlers, like Tornado's `RequestHandler`: subclass it and
/// override the methods you serve; the others answer 405.
///
/// ```swift
/// final class MainHandler: RequestHandler {
///     override func get() async throws {
///         write("Hello, world")
///     }
/// }
/// let app = Application([("/", MainHandler.self)])
/// ```
///
/// A new instance serves each request, on the loop's thread: a handler that awaits lets the
/// loop serve other connections meanwhile. Output is buffered until `flush()` or `finish()`;
/// a handler that returns without finishing is finished for it. Tornado's vocabulary:
/// `write`, `setHeader`, `addHeader`, `clearHeader`, `setStatus`, `redirect`, `finish`,
/// `flush`, `argument`/`arguments`, `cookie`/`setCookie`/`clearCookie`, `sendError`,
/// `writeError`, `prepare`, `onFinish`, `onConnectionClose`, `computeEtag`.
open class RequestHandler {
    public required init() {}

    // MARK: Context (set before any of your code runs)

    // Separate fields, not one optional struct: reading one must not copy (and retain) all.
    @exclusivity(unchecked) private var boundRequest: HTTPServerRequest!
    @exclusivity(unchecked) private(set) var connection: HTTPConnection!
    /// The C request while the response is open.
    @exclusivity(unchecked) private var raw: OpaquePointer?
    /// When the request was delivered, monotonic nanoseconds (for the access log).
    @exclusivity(unchecked) private(set) var startTime: UInt64 = 0

    /// The application serving this request.
    public var application: Application { connection.application }
    /// The request being served.
    public var request: HTTPServerRequest { boundRequest }
    /// The application's logger.
    public var logger: Logger { connection.application.settings.logger }
    /// The route pattern's unnamed captures, percent-decoded.
    public var pathArguments: [String] { request.pathArguments }
    /// The route pattern's named captures, percent-decoded.
    public var pathKeywordArguments: [String: String] { request.pathKeywordArguments }

    // MARK: Response state

    /// The status that will be sent (200 unless set).
    @exclusivity(unchecked) public private(set) var statusCode = 200
    @exclusivity(unchecked) private var reason: String?
    /// Content-Type, kept apart from the other headers: almost every response has one.
    @exclusivity(unchecked) private var contentType: String? = "text/html; charset=UTF-8"
    @exclusivity(unchecked) private var extraHeaders: [(String, String)] = []
    /// The Etag finish() computed (kept apart: no array for the common response).
    @exclusivity(unchecked) private var etag: String?
    /// A header set with characters a header cannot hold; reported when the head is sent.
    @exclusivity(unchecked) private var invalidHeader: String?
    /// The body written so far: a single written string is kept as it is (no copy; a literal
    /// page costs nothing), anything more goes to `buffer`. Never both.
    @exclusivity(unchecked) private var text: String?
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    /// True once the head has been sent (by `flush()`).
    @exclusivity(unchecked) public private(set) var headersWritten = false
    /// True once the response is complete.
    @exclusivity(unchecked) public private(set) var finished = false
    @exclusivity(unchecked) private var closeReported = false

    // MARK: Override points

    /// Answer a body in chunks as it arrives instead of buffering it (Tornado's
    /// `@stream_request_body`): `dataReceived` gets each chunk after `prepare()`, before the
    /// method runs.
    open class var streamsRequestBody: Bool { false }

    /// Runs before the method (Tornado's `prepare`); finish here to answer early.
    open func prepare() async throws {}
    /// A chunk of a streamed body (see `streamsRequestBody`).
    open func dataReceived(_ chunk: [UInt8]) async throws {}
    /// Runs once the response is complete (Tornado's `on_finish`), for logging and cleanup.
    open func onFinish() {}
    /// The client went away while this request was in flight (Tornado's
    /// `on_connection_close`): its connection failed or timed out, or the client closed its
    /// side. Stop work only this client was waiting for (a long poll, an event stream). Runs
    /// on the loop, at most once; a client that only half-closed still gets what you send.
    open func onConnectionClose() {}

    open func get() async throws { throw HTTPError(405) }
    open func head() async throws { throw HTTPError(405) }
    open func post() async throws { throw HTTPError(405) }
    open func put() async throws { throw HTTPError(405) }
    open func patch() async throws { throw HTTPError(405) }
    open func delete() async throws { throw HTTPError(405) }
    open func options() async throws { throw HTTPError(405) }

    /// The page sent for an error (Tornado's `write_error`). The default is Tornado's:
    /// `<html><title>404: Not Found</title><body>404: Not Found</body></html>`.
    open func writeError(status: Int, error: (any Error)?) async throws {
        try finishWithErrorPage(status)
    }

    /// Tornado's error page, for `status` and the reason set with it.
    final func finishWithErrorPage(_ status: Int) throws {
        let phrase = reason ?? HTTPError.standardReason(status)
        try finish("<html><title>\(status): \(phrase)</title><body>\(status): \(phrase)</body></html>")
    }

    /// The entity tag for the buffered body, or nil for none (Tornado's `compute_etag`: a
    /// quoted hex SHA-1).
    open func computeEtag() -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 43) { out in
            withBody { gale_http_etag($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count, out.baseAddress!) }
            return connection.etagString(out.baseAddress!)
        }
    }

    // MARK: Headers and status

    /// Set the status; `reason` overrides the standard phrase.
    public func setStatus(_ status: Int, reason: String? = nil) {
        statusCode = status
        self.reason = reason
    }

    /// Set a header, replacing any value it had.
    public func setHeader(_ name: String, _ value: String) {
        check(name, value)
        if equalsIgnoringCase(name, "Content-Type") {
            contentType = value
            return
        }
        clearHeader(name)
        extraHeaders.append((name, value))
    }

    /// Add a value to a header that may have several (Set-Cookie, Vary, ...).
    public func addHeader(_ name: String, _ value: String) {
        check(name, value)
        if equalsIgnoringCase(name, "Content-Type") {
            contentType = value
            return
        }
        extraHeaders.append((name, value))
    }

    private func check(_ name: String, _ value: String) {
        if invalidHeader == nil && !HeaderText.isAllowed(name, value) { invalidHeader = name }
    }

    /// Remove a header.
    public func clearHeader(_ name: String) {
        if equalsIgnoringCase(name, "Content-Type") {
            contentType = nil
            return
        }
        extraHeaders.removeAll { equalsIgnoringCase($0.0, name) }
    }

    /// A response header's value as it stands.
    public func responseHeader(_ name: String) -> String? {
        if equalsIgnoringCase(name, "Content-Type") { return contentType }
        if equalsIgnoringCase(name, "Etag"), let etag { return etag }
        return extraHeaders.first { equalsIgnoringCase($0.0, name) }?.1
    }

    // MARK: Output

    /// Append text to the response (UTF-8).
    public func write(_ text: String) {
        precondition(!finished, "write() after finish()")
        if self.text == nil && buffer.isEmpty {
            self.text = text
        } else {
            spill()
            buffer.append(contentsOf: text.utf8)
        }
    }

    /// Move a kept string into the byte buffer (a second write, or bytes after it).
    private func spill() {
        if let t = text {
            buffer.append(contentsOf: t.utf8)
            text = nil
        }
    }

    /// The body written so far, as bytes, without copying a kept string.
    private func withBody<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        if var t = text { return t.withUTF8 { body(UnsafeRawBufferPointer($0)) } }
        return buffer.withUnsafeBytes(body)
    }

    private var bodyIsEmpty: Bool { text.map(\.utf8.isEmpty) ?? buffer.isEmpty }

    private func clearBody() {
        text = nil
        if !buffer.isEmpty { buffer.removeAll(keepingCapacity: true) }
    }

    /// Append bytes to the response.
    public func write(_ bytes: [UInt8]) {
        precondition(!finished, "write() after finish()")
        spill()
        buffer.append(contentsOf: bytes)
    }

    /// Append bytes to the response.
    public func write(_ data: Data) {
        precondition(!finished, "write() after finish()")
        spill()
        buffer.append(contentsOf: data)
    }

    /// Write a value as JSON and set Content-Type to application/json (Tornado writes a dict
    /// that way).
    public func write(_ value: some Encodable) throws {
        precondition(!finished, "write() after finish()")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        spill()
        buffer.append(contentsOf: try encoder.encode(value))
        contentType = "application/json; charset=UTF-8"
    }

    /// Send the head and what is buffered now; later writes follow as they are flushed (chunked
    /// over HTTP/1.1). Waits while the connection's queue is above its high-water mark, so a
    /// producer cannot outrun a slow client. Throws `GaleError` `.closed` if the client left.
    public func flush() async throws {
        guard !finished else { throw GaleError.closed("flush after finish") }
        guard let raw = raw, !connection.aborted else { throw GaleError.closed("flush") }
        if !headersWritten { try sendHead(raw) }
        var r: Int32 = 0
        if !bodyIsEmpty {
            r = withBody { gale_http_response_write(raw, $0.baseAddress!, $0.count) }
            clearBody()
        }
        if r >= 0 { r = gale_http_response_flush(raw) }
        if r < 0 { throw GaleError(code: r, operation: "flush") }
        if r == 1 { try await connection.waitWritable() }
    }

    /// Finish the response with one more piece of text.
    public func finish(_ text: String) throws {
        write(text)
        try finish()
    }

    /// Complete the response (Tornado's `finish`). For a 200 to GET or HEAD that was not
    /// flushed, adds an Etag and answers 304 when the client's If-None-Match matches. The
    /// bytes are handed to the connection at once (it sends them as the client takes them);
    /// nothing here waits.
    public func finish() throws {
        guard !finished else { throw GaleError(kind: .invalidArgument, operation: "finish", message: "finish() called twice") }
        guard let raw = raw else { throw GaleError.closed("finish") }
        if !headersWritten {
            let method = request.method
            if statusCode == 200 && (method == "GET" || method == "HEAD") && etag == nil
                && (extraHeaders.isEmpty || responseHeader("Etag") == nil),
               let computed = computeEtag() {
                etag = computed // ours: needs no check
                if checkEtagHeader(computed) {
                    clearBody()
                    statusCode = 304
                    reason = nil
                }
            }
            if statusCode == 204 || statusCode == 304 || (100..<200).contains(statusCode) {
                clearBody()
                contentType = nil // no representation (Tornado clears these headers)
            }
            try sendHead(raw) // a bad header throws here, before anything is sent
        }
        finished = true
        self.raw = nil
        request.responseEnded() // before the C request goes away with the response
        let r = withBody { gale_http_response_end(raw, $0.baseAddress, $0.count) }
        clearBody()
        onFinish()
        if r < 0 && r != -EPIPE { throw GaleError(code: r, operation: "finish") }
    }

    /// Redirect (302, or 301 when permanent) to `url` and finish.
    public func redirect(_ url: String, permanent: Bool = false, status: Int? = nil) throws {
        guard !headersWritten else { throw GaleError(kind: .invalidArgument, operation: "redirect", message: "cannot redirect after headers have been written") }
        setStatus(status ?? (permanent ? 301 : 302))
        setHeader("Location", url)
        try finish()
    }

    /// Answer with an error status and its page (Tornado's `send_error`).
    public func sendError(_ status: Int = 500, error: (any Error)? = nil) async {
        guard beginErrorPage(status, error: error) else { return }
        do {
            try await writeError(status: status, error: error)
        } catch {
            logger.error("writeError failed: \(error)")
        }
        if !finished { try? finish() }
    }

    /// What `sendError` does before `writeError`: false if the response is already under
    /// way (it is finished as it stands instead), else the page's state is set up.
    final func beginErrorPage(_ status: Int, error: (any Error)?) -> Bool {
        if headersWritten || finished {
            if !finished { try? finish() }
            return false
        }
        clearBody()
        extraHeaders.removeAll()
        etag = nil
        invalidHeader = nil
        contentType = "text/html; charset=UTF-8"
        if let e = error as? HTTPError {
            setStatus(status, reason: e.reason)
        } else {
            setStatus(status)
        }
        return true
    }

    // MARK: Arguments and cookies

    /// The last value of a query or form argument, with surrounding spaces stripped, or nil.
    public func argument(_ name: String) -> String? {
        arguments(name).last
    }

    /// The last value of an argument, or `defaultValue`.
    public func argument(_ name: String, default defaultValue: String) -> String {
        argument(name) ?? defaultValue
    }

    /// The last value of an argument; a missing one answers 400 (Tornado's
    /// `MissingArgumentError`).
    public func requiredArgument(_ name: String) throws -> String {
        guard let v = argument(name) else { throw HTTPError(400, logMessage: "Missing argument \(name)") }
        return v
    }

    /// Every value of a query or form argument, stripped.
    public func arguments(_ name: String) -> [String] {
        ((request.queryArguments[name] ?? []) + (request.bodyArguments[name] ?? [])).map { $0.trimmingSpaces() }
    }

    /// A cookie the client sent.
    public func cookie(_ name: String) -> String? { request.cookies[name] }

    /// Set a cookie (a Set-Cookie header).
    public func setCookie(_ name: String, _ value: String, domain: String? = nil, path: String? = "/",
                          expires: Date? = nil, maxAge: Int? = nil, secure: Bool = false, httpOnly: Bool = false,
                          sameSite: Cookies.SameSite? = nil) throws {
        addHeader("Set-Cookie", try Cookies.format(name: name, value: value, domain: domain, path: path, expires: expires,
                                                   maxAge: maxAge, secure: secure, httpOnly: httpOnly, sameSite: sameSite))
    }

    /// Tell the client to drop a cookie.
    public func clearCookie(_ name: String, path: String? = "/", domain: String? = nil) throws {
        try setCookie(name, "", domain: domain, path: path, expires: Date(timeIntervalSince1970: 0), maxAge: 0)
    }

    // MARK: Internals

    /// Something besides this handler holds its request.
    final var requestIsShared: Bool { !isKnownUniquelyReferenced(&boundRequest) }

    func bind(request: HTTPServerRequest, connection: HTTPConnection, raw: OpaquePointer, start: UInt64) {
        boundRequest = request
        self.connection = connection
        self.raw = raw
        startTime = start
    }

    /// Tornado's `check_etag_header`: does If-None-Match name this entity (weak comparison)?
    private func checkEtagHeader(_ etag: String) -> Bool {
        guard request.hasIfNoneMatch, let inm = request.header("If-None-Match") else { return false }
        func strip(_ s: Substring) -> Substring {
            let t = s.drop { $0 == " " }
            return t.hasPrefix("W/") ? t.dropFirst(2) : t
        }
        let ours = strip(Substring(etag))
        if inm.trimmingSpaces() == "*" { return true }
        return inm.split(separator: ",").contains { strip(Substring($0.trimmingSpaces())) == ours }
    }

    private func sendHead(_ raw: OpaquePointer) throws {
        // Checked before anything is sent, so a bad header becomes a clean 500 (Tornado's
        // set_header raises); libcore checks again.
        if let name = invalidHeader {
            throw HTTPError(500, logMessage: "header \(name) cannot be sent (not a token, a character a header cannot hold, or framing the server sets itself)")
        }
        if let reason, !HeaderText.isValue(reason) {
            throw HTTPError(500, logMessage: "the reason phrase has a character it cannot hold")
        }
        // A plain 200 is begun by the first header (or by the end).
        var r: Int32 = statusCode == 200 && reason == nil ? 0 : gale_http_response_start(raw, Int32(clamping: statusCode), reason)
        if r == 0, let ct = contentType { r = addCHeader(raw, "Content-Type", ct) }
        if application.hasDefaultHeaders {
            for (name, value) in application.settings.defaultHeaders where r == 0 && responseHeader(name) == nil {
                r = addCHeader(raw, name, value)
            }
        }
        if !extraHeaders.isEmpty {
            for (name, value) in extraHeaders where r == 0 { r = addCHeader(raw, name, value) }
        }
        if r == 0, let etag { r = addCHeader(raw, "Etag", etag) }
        if r < 0 {
            throw r == -EINVAL
                ? GaleError(kind: .invalidArgument, operation: "write headers", message: "a header name or value is not allowed (CR, LF, NUL, or not a token)")
                : GaleError(code: r, operation: "write headers")
        }
        headersWritten = true
    }

    /// The connection went away during this request: onConnectionClose, once.
    final func connectionClosed() {
        if closeReported { return }
        closeReported = true
        onConnectionClose()
    }

    /// Tornado's `_execute`: prepare, the method, finish; errors become error pages.
    final func execute() async {
        do {
            try await prepare()
            if finished { return }
            if Self.streamsRequestBody {
                for try await chunk in connection.requestBody() {
                    try await dataReceived(chunk)
                }
            }
            switch request.method {
            case "GET": try await get()
            case "HEAD": try await head()
            case "POST": try await post()
            case "PUT": try await put()
            case "PATCH": try await patch()
            case "DELETE": try await delete()
            case "OPTIONS": try await options()
            default: throw HTTPError(405)
            }
            if !finished { try finish() }
        } catch {
            if let status = errorStatus(error) { await sendError(status, error: error) }
        }
        endUnfinished()
    }

    /// Log an error that ended a handler; the status of the page to send for it, or nil when
    /// the response is already complete.
    final func errorStatus(_ error: any Error) -> Int? {
        if let e = error as? HTTPError {
            if let m = e.logMessage { logger.warning("\(e.status) \(request.method) \(request.uri): \(m)") }
            return e.status
        } else if connection.aborted || finished {
            logger.debug("\(request.method) \(request.uri): \(error)")
            return finished ? nil : 500
        } else {
            logger.error("Uncaught error in \(type(of: self)) for \(request.method) \(request.uri): \(error)")
            return 500
        }
    }

    /// Every request must end, or its connection waits for ever: if even the error page could
    /// not go out (a head the server refused), end it and close the connection.
    final func endUnfinished() {
        guard !finished, let raw = raw else { return }
        logger.error("\(request.method) \(request.uri): the response could not be completed; closing the connection")
        finished = true
        self.raw = nil
        request.responseEnded()
        _ = addCHeader(raw, "Connection", "close")
        _ = gale_http_response_end(raw, nil, 0)
    }
}

/// What header names (RFC 9110 tokens) and values (no CTLs but HTAB) may contain; the same
/// rules libcore enforces, checked here first so that a bad header becomes a clean 500.
enum HeaderText {
    @inline(__always)
    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true // !#$%&'*+-.^_`|~
        default: return false
        }
    }

    static func isName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(isTokenByte)
    }

    static func isValue(_ s: String) -> Bool {
        !s.utf8.contains { ($0 < 32 && $0 != 9) || $0 == 127 }
    }

    /// What libcore will take from a handler: a token name, a clean value, and no framing of
    /// its own (Transfer-Encoding is the server's; Content-Length must be a number). Checked
    /// before the head is started, because a header refused after that spoils the response.
    static func isAllowed(_ name: String, _ value: String) -> Bool {
        guard isName(name), isValue(value) else { return false }
        switch name.utf8.count {
        case 17: return !equalsIgnoringCase(name, "Transfer-Encoding")
        case 14:
            guard equalsIgnoringCase(name, "Content-Length") else { return true }
            return (1...19).contains(value.utf8.count) && value.utf8.allSatisfy { (48...57).contains($0) }
        default: return true
        }
    }
}

/// A header for the head being built. Every name and value that reaches here has passed
/// `HeaderText` (when it was set, or in sendHead), so libcore need not scan it again.
@inline(__always)
private func addCHeader(_ raw: OpaquePointer, _ name: String, _ value: String) -> Int32 {
    // Native and literal strings lend their bytes without a copy (or a retain of one).
    let lent = name.utf8.withContiguousStorageIfAvailable { n in
        value.utf8.withContiguousStorageIfAvailable { v in addCHeader(raw, n, v) }
    }
    if let lent, let r = lent { return r }
    var name = name, value = value // bridged strings: made contiguous first
    return name.withUTF8 { n in value.withUTF8 { v in addCHeader(raw, n, v) } }
}

@inline(__always)
private func addCHeader(_ raw: OpaquePointer, _ n: UnsafeBufferPointer<UInt8>, _ v: UnsafeBufferPointer<UInt8>) -> Int32 {
    func chars(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar> {
        b.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? emptyCString
    }
    return gale_http_response_header_checked(raw, chars(n), n.count, chars(v), v.count)
}

/// A NUL-terminated empty string for empty names and values (their buffers have no address).
nonisolated(unsafe) private let emptyCString: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()
