import CGale

/// A response read by `HTTPClient`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var reason: String
    /// "HTTP/1.1" or "HTTP/1.0".
    public var version: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small HTTP/1.1 client over one kept-alive connection: enough to test handlers against a
/// real server (like Tornado's `AsyncHTTPTestCase.fetch`) and to talk to simple services.
/// Requests on one client are sent one after another.
///
/// ```swift
/// try await withTestServer(app) { client in
///     let r = try await client.fetch("/")
///     #expect(r.status == 200)
/// }
/// ```
public final class HTTPClient: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let loop: EventLoop
    private var stream: TCPStream?
    private var lastKeepAlive = false

    public init(host: String = "127.0.0.1", port: Int, loop: EventLoop? = nil) throws {
        self.host = host
        self.port = port
        self.loop = try loop ?? EventLoop.shared
    }

    /// Send a request and read the response. `path` is the request-target ("/a?b=1").
    public func fetch(_ path: String, method: String = "GET", headers: HTTPHeaders = HTTPHeaders(),
                      body: [UInt8] = [], timeout: Duration = .seconds(30)) async throws -> HTTPResponse {
        let stream: TCPStream
        if let s = self.stream, lastKeepAlive, !(await s.isClosed) {
            stream = s
        } else {
            self.stream?.close()
            stream = try await TCPClient.connect(host: host, port: port, timeout: timeout, loop: loop)
            try await stream.setTimeouts(read: timeout)
            self.stream = stream
        }
        var head = "\(method) \(path) HTTP/1.1\r\n"
        if !headers.contains("Host") { head += "Host: \(host):\(port)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method), !headers.contains("Content-Length"),
           !headers.contains("Transfer-Encoding") {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        try await stream.write(Array(head.utf8) + body)
        do {
            let response = try await Self.readResponse(stream, isHead: method == "HEAD")
            lastKeepAlive = response.keepAlive
            if !response.keepAlive { stream.close() }
            return response.response
        } catch {
            stream.abort()
            self.stream = nil
            throw error
        }
    }

    /// Close the connection.
    public func close() {
        stream?.close()
        stream = nil
    }

    /// Read one response (skipping 1xx interim ones).
    static func readResponse(_ stream: TCPStream, isHead: Bool) async throws -> (response: HTTPResponse, keepAlive: Bool) {
        while true {
            let headBytes = try await stream.read(until: [13, 10, 13, 10], max: 64 * 1024)
            var fields = [gale_http_field](repeating: gale_http_field(), count: 256)
            var parser = gale_http_parser()
            let (r, h, parsed): (Int32, gale_http_head, [(String, String)]) = headBytes.withUnsafeBytes { buf in
                fields.withUnsafeMutableBufferPointer { f in
                    gale_http_parser_init(&parser, Int32(GALE_HTTP_RESPONSE), nil, f.baseAddress, UInt32(f.count))
                    gale_http_parser_set_response_to_head(&parser, isHead ? 1 : 0)
                    let base = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
                    let r = gale_http_parser_execute(&parser, base, buf.count)
                    var out: [(String, String)] = []
                    if r > 0 {
                        for i in 0..<Int(parser.head.num_fields) {
                            out.append((string(gale_http_field_name(&f[i], base)), string(gale_http_field_value(&f[i], base))))
                        }
                    }
                    return (r, parser.head, out)
                }
            }
            guard r > 0 else {
                throw GaleError(kind: .protocolViolation, operation: "read response",
                                message: "malformed response head (\(parser.error_status))")
            }
            let reason = headBytes.withUnsafeBytes {
                String(decoding: UnsafeRawBufferPointer(rebasing: $0[Int(h.reason_off)..<Int(h.reason_off + h.reason_len)]), as: UTF8.self)
            }
            if h.status >= 100 && h.status < 200 { continue } // 100 Continue and friends
            var body: [UInt8] = []
            switch Int32(h.body_kind) {
            case Int32(GALE_HTTP_BODY_LENGTH):
                body = try await stream.read(exactly: Int(h.content_length))
            case Int32(GALE_HTTP_BODY_CHUNKED):
                body = try await readChunked(stream)
            case Int32(GALE_HTTP_BODY_UNTIL_CLOSE):
                body = try await stream.readToEnd()
            default:
                break
            }
            let response = HTTPResponse(status: Int(h.status), reason: reason,
                                        version: h.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
                                        headers: HTTPHeaders(parsed), body: body)
            let keep = (h.flags & UInt32(GALE_HTTP_F_KEEP_ALIVE)) != 0 && Int32(h.body_kind) != Int32(GALE_HTTP_BODY_UNTIL_CLOSE)
            return (response, keep)
        }
    }

    private static func readChunked(_ stream: TCPStream) async throws -> [UInt8] {
        var decoder = gale_http_chunked()
        gale_http_chunked_init(&decoder, 64 * 1024)
        var body: [UInt8] = []
        var pending: [UInt8] = []
        while true {
            var consumedTotal = 0
            var finished = false
            let failed: Bool = pending.withUnsafeBytes { buf in
                while consumedTotal < buf.count || buf.count == 0 {
                    var used = 0
                    var piece = gale_slice()
                    let base = (buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
                    let r = gale_http_chunked_decode(&decoder, base + consumedTotal, buf.count - consumedTotal, &used, &piece)
                    consumedTotal += used
                    if r == 1 {
                        body.append(contentsOf: UnsafeRawBufferPointer(start: piece.ptr, count: piece.len))
                    } else if r == 0 {
                        finished = true
                        return false
                    } else if r == Int32(GALE_HTTP_NEED_MORE) {
                        return false
                    } else {
                        return true
                    }
                }
                return false
            }
            if failed {
                throw GaleError(kind: .protocolViolation, operation: "read response", message: "malformed chunked body")
            }
            if finished { return body }
            pending.removeFirst(consumedTotal)
            let more = try await stream.read(upTo: 64 * 1024)
            if more.isEmpty { throw GaleError.endOfStream("read chunked body") }
            pending += more
        }
    }
}

/// Run `app` on an ephemeral loopback port for the duration of `body`, with a client
/// connected to it (like Tornado's `AsyncHTTPTestCase`).
public func withTestServer<R>(_ app: Application, _ body: (HTTPClient) async throws -> R) async throws -> R {
    let loop = try EventLoop(name: "gale-test")
    let address = try await app.listen(0, address: "127.0.0.1", on: [loop])
    let client = try HTTPClient(port: address.port!, loop: loop)
    do {
        let r = try await body(client)
        client.close()
        await app.stop(gracePeriod: .seconds(2))
        loop.shutdown()
        return r
    } catch {
        client.close()
        await app.stop(gracePeriod: .seconds(2))
        loop.shutdown()
        throw error
    }
}
