import Gale
import Testing

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

let tornadoPage = """
    <html>
    <head>
    <title>Tornado Framework</title>

    </head>
    <body>
    <h2>Welcome to the Tornado framework</h2>
    </body>
    </html>
    """

final class PageHandler: RequestHandler {
    override func get() async throws { write(tornadoPage) }
}

final class EchoArgsHandler: RequestHandler {
    override func get() async throws {
        write("a=\(argument("a") ?? "-") all=\(arguments("a")) b=\(argument("b", default: "none"))")
    }
    override func post() async throws {
        write("name=\(argument("name") ?? "-") body=\(request.body.count)")
    }
}

final class StoryHandler: RequestHandler {
    override func get() async throws {
        write("story \(pathArguments[0])")
    }
}

final class NamedHandler: RequestHandler {
    override func get() async throws {
        write("user=\(pathKeywordArguments["user"] ?? "?") item=\(pathKeywordArguments["item"] ?? "?")")
    }
}

final class ThrowingHandler: RequestHandler {
    struct Boom: Error {}
    override func get() async throws { throw Boom() }
    override func post() async throws { throw HTTPError(418, reason: "I'm a teapot", logMessage: "brewing") }
}

final class JSONHandler: RequestHandler {
    struct Payload: Encodable { let name: String; let count: Int }
    override func get() async throws { try write(Payload(name: "gale", count: 3)) }
}

final class HeadersHandler: RequestHandler {
    override func get() async throws {
        setStatus(201)
        setHeader("X-One", "1")
        addHeader("X-Many", "a")
        addHeader("X-Many", "b")
        setHeader("Content-Type", "text/plain")
        try setCookie("session", "abc123", maxAge: 60, httpOnly: true, sameSite: .lax)
        write("seen cookie: \(cookie("theme") ?? "none"), ua: \(request.header("user-agent") ?? "none")")
    }
}

final class BadHeaderHandler: RequestHandler {
    override func get() async throws {
        switch argument("kind") {
        case "te": setHeader("Transfer-Encoding", "chunked") // framing is the server's
        case "cl": setHeader("Content-Length", "ten")
        default: setHeader("X-Evil", "a\r\nInjected: yes")
        }
        write("never")
    }
}

final class RedirectHandler: RequestHandler {
    override func get() async throws { try redirect("/page", permanent: pathArguments.first == "perm") }
}

final class StreamingHandler: RequestHandler {
    override func get() async throws {
        for i in 0..<3 {
            write("event \(i)\n")
            try await flush()
        }
    }
}

final class PrepareHandler: RequestHandler {
    nonisolated(unsafe) static var finishedCount = 0
    override func prepare() async throws {
        if argument("deny") != nil { throw HTTPError(403) }
    }
    override func get() async throws { write("allowed") }
    override func onFinish() { PrepareHandler.finishedCount += 1 }
}

final class CustomErrorHandler: RequestHandler {
    override func get() async throws { throw HTTPError(404) }
    override func writeError(status: Int, error: (any Error)?) async throws {
        setHeader("Content-Type", "application/json")
        try finish("{\"error\": \(status)}")
    }
}

final class UploadHandler: RequestHandler {
    override class var streamsRequestBody: Bool { true }
    var received = 0
    var chunks = 0
    override func dataReceived(_ chunk: [UInt8]) async throws {
        received += chunk.count
        chunks += 1
    }
    override func put() async throws { write("received \(received) in \(chunks > 0 ? "chunks" : "none")") }
}

final class SlowHandler: RequestHandler {
    override func get() async throws {
        try await EventLoop.current!.sleep(for: .milliseconds(Int(argument("ms") ?? "50") ?? 50))
        write("slow done")
    }
}

/// Streams 64 KiB chunks until the client goes away, counting what it produced.
final class ForeverHandler: RequestHandler {
    static let produced = Box(0)
    static let stopped = Box(false)
    override func get() async throws {
        let chunk = [UInt8](repeating: 120, count: 64 * 1024)
        defer { ForeverHandler.stopped.value = true }
        while true {
            write(chunk)
            try await flush() // parks while the connection's queue is above its high-water mark
            ForeverHandler.produced.mutate { $0 += chunk.count }
        }
    }
}

/// Answers at once, then goes on awaiting (up to 5 s) until the test opens its gate.
final class LingerHandler: RequestHandler {
    static let gate = Box(false)
    static let ended = Box(false)
    override func get() async throws {
        try finish("early")
        let loop = EventLoop.current!
        for _ in 0..<500 where !LingerHandler.gate.value { try await loop.sleep(for: .milliseconds(10)) }
        LingerHandler.ended.value = true
    }
}

/// A long poll: waits (up to 5 s) for an event that never comes, unless the client goes first.
/// Counts by `?id=`, so tests running at once keep apart.
final class LongPollHandler: RequestHandler {
    static let toldClosed = Box([String: Int]())
    static let gaveUp = Box(Set<String>())
    var clientGone = false
    override func onConnectionClose() {
        clientGone = true
        let id = argument("id") ?? ""
        LongPollHandler.toldClosed.mutate { $0[id, default: 0] += 1 }
    }
    override func get() async throws {
        let loop = EventLoop.current!
        for _ in 0..<500 where !clientGone { try await loop.sleep(for: .milliseconds(10)) }
        if clientGone { _ = LongPollHandler.gaveUp.mutate { $0.insert(argument("id") ?? "") } }
    }
}

/// Tornado's plain `def get`: never awaits, served from the read callback.
final class SyncPageHandler: SyncRequestHandler {
    override func get() { write(tornadoPage) }
}

/// A synchronous handler using the rest of the vocabulary: prepare, path and query arguments,
/// errors of each kind, its own error page, sendError, a form body.
final class SyncStoryHandler: SyncRequestHandler {
    override func prepare() throws {
        if argument("deny") != nil { throw HTTPError(403) }
        if argument("early") != nil { try finish("early answer") }
    }
    override func get() throws {
        switch argument("fail") {
        case "http": throw HTTPError(418, reason: "I'm a teapot")
        case "other": throw ThrowingHandler.Boom()
        case "send": sendError(409)
        default:
            setHeader("X-Loop", EventLoop.current?.name ?? "none")
            setHeader("X-In-Task", withUnsafeCurrentTask { $0 != nil } ? "yes" : "no")
            write("sync story \(pathArguments[0])")
        }
    }
    override func post() throws { write("posted \(request.body.count) name=\(argument("name") ?? "-")") }
    override func writeError(status: Int, error: (any Error)?) throws {
        setHeader("Content-Type", "text/plain")
        try finish("sync error \(status)")
    }
}

/// A synchronous handler that streams its request body: served on a task, chunk by chunk.
final class SyncUploadHandler: SyncRequestHandler {
    override class var streamsRequestBody: Bool { true }
    var received = 0
    override func dataReceived(_ chunk: [UInt8]) throws { received += chunk.count }
    override func put() throws { write("sync received \(received)") }
}

/// Keeps its request, or itself, past the response, as user code may: what it kept must stay
/// readable after the server has reused its buffers for later requests.
final class KeepingHandler: SyncRequestHandler {
    // Written on the serving loop, read by the test after the responses came back.
    nonisolated(unsafe) static var keptRequests: [HTTPServerRequest] = []
    nonisolated(unsafe) static var keptHandlers: [KeepingHandler] = []
    override func get() {
        switch argument("keep") {
        case "request": KeepingHandler.keptRequests.append(request)
        case "handler": KeepingHandler.keptHandlers.append(self)
        default: break
        }
        write("kept")
    }
}

/// The process's resident memory in bytes (Linux).
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    withUnsafeMutablePointer(to: &size) { s in
        withUnsafeMutablePointer(to: &resident) { r in
            _ = withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Records where its code runs. This test module is built without NonisolatedNonsendingByDefault,
/// like many users' code: overrides still run on the serving loop, and so does a @concurrent
/// helper (the worker task prefers the loop as its executor).
final class WhereHandler: RequestHandler {
    nonisolated(nonsending) func sameContext() async -> Bool { EventLoop.current != nil }
    @concurrent static func concurrentHelper() async -> Bool { EventLoop.current != nil }
    override func get() async throws {
        let atStart = EventLoop.current.map { $0.name } ?? "none"
        let inHelper = await sameContext()
        let inConcurrent = await WhereHandler.concurrentHelper()
        let afterAwaits = EventLoop.current.map { $0.name } ?? "none"
        write("\(atStart) \(inHelper) \(inConcurrent) \(afterAwaits)")
    }
}

func testApp(settings: Settings = Settings()) throws -> Application {
    try Application([
        ("/", PageHandler.self),
        ("/page", PageHandler.self),
        ("/args", EchoArgsHandler.self),
        ("/story/([0-9]+)", StoryHandler.self),
        ("/u/(?<user>[a-z]+)/(?<item>[0-9]+)", NamedHandler.self),
        ("/boom", ThrowingHandler.self),
        ("/json", JSONHandler.self),
        ("/headers", HeadersHandler.self),
        ("/bad-header", BadHeaderHandler.self),
        ("/redirect/?(perm)?", RedirectHandler.self),
        ("/stream", StreamingHandler.self),
        ("/prepare", PrepareHandler.self),
        ("/custom-error", CustomErrorHandler.self),
        ("/upload", UploadHandler.self),
        ("/slow", SlowHandler.self),
        ("/forever", ForeverHandler.self),
        ("/where", WhereHandler.self),
        ("/linger", LingerHandler.self),
        ("/poll", LongPollHandler.self),
        ("/sync", SyncPageHandler.self),
        ("/sync/([0-9]+)", SyncStoryHandler.self),
        ("/sync-upload", SyncUploadHandler.self),
        ("/keep", KeepingHandler.self),
    ], settings: settings)
}

/// The test application with the access and error log off: tests that provoke 4xx and 5xx on
/// purpose keep the output quiet.
func quietTestApp() throws -> Application {
    var settings = Settings()
    settings.logger.logLevel = .critical
    return try testApp(settings: settings)
}

@Suite("Web", .timeLimit(.minutes(1)))
struct WebTests {
    @Test func tornadoPageWithEtagAnd304() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let r = try await client.fetch("/")
            #expect(r.status == 200)
            #expect(r.text == tornadoPage)
            #expect(r.body.count == 120)
            #expect(r.headers["Content-Type"] == "text/html; charset=UTF-8")
            #expect(r.headers["Content-Length"] == "120")
            #expect(r.headers["Date"] != nil)
            #expect(r.headers["Server"] == "Gale")
            // Tornado's etag: the quoted hex SHA-1 of the body.
            #expect(r.headers["Etag"] == "\"797dc080b80b8e2d2368fa89cec183f0dfe21d87\"")
            let cached = try await client.fetch("/", headers: ["If-None-Match": r.headers["Etag"]!])
            #expect(cached.status == 304)
            #expect(cached.body.isEmpty)
            #expect(cached.headers["Content-Type"] == nil)
            let weak = try await client.fetch("/", headers: ["If-None-Match": "\"other\", W/\(r.headers["Etag"]!)"])
            #expect(weak.status == 304)
            let head = try await client.fetch("/", method: "HEAD")
            #expect(head.status == 405) // Tornado's handler has no head(): 405
        }
    }

    /// A SyncRequestHandler answers exactly as an async one would: same page, Etag and 304,
    /// 405 for methods it does not define, on the serving loop.
    @Test func syncHandlerServesTheSamePageAndEtag() async throws {
        try await withTestServer(try quietTestApp()) { (client: HTTPClient) async throws in
            let async = try await client.fetch("/")
            let sync = try await client.fetch("/sync")
            #expect(sync.status == 200)
            #expect(sync.text == tornadoPage)
            #expect(sync.headers["Content-Type"] == "text/html; charset=UTF-8")
            #expect(sync.headers["Etag"] == async.headers["Etag"])
            let cached = try await client.fetch("/sync", headers: ["If-None-Match": sync.headers["Etag"]!])
            #expect(cached.status == 304)
            #expect(cached.body.isEmpty)
            for method in ["HEAD", "POST", "DELETE", "BREW"] {
                let r = try await client.fetch("/sync", method: method)
                #expect(r.status == 405)
            }
            #expect(try await client.fetch("/sync", method: "POST").text
                == "<html><title>405: Method Not Allowed</title><body>405: Method Not Allowed</body></html>")
            let story = try await client.fetch("/sync/12")
            #expect(story.text == "sync story 12")
            #expect(story.headers["X-Loop"]?.isEmpty == false)
            #expect(story.headers["X-Loop"] != "none") // run on the serving loop's thread
            #expect(story.headers["X-In-Task"] == "no") // straight from the read callback
        }
    }

    @Test func syncHandlerErrorsPrepareAndBodies() async throws {
        try await withTestServer(try quietTestApp()) { (client: HTTPClient) async throws in
            let denied = try await client.fetch("/sync/1?deny=1")
            #expect(denied.status == 403)
            #expect(denied.text == "sync error 403")
            #expect(denied.headers["Content-Type"] == "text/plain")
            #expect(try await client.fetch("/sync/1?early=1").text == "early answer")
            let teapot = try await client.fetch("/sync/1?fail=http")
            #expect(teapot.status == 418)
            #expect(teapot.reason == "I'm a teapot")
            #expect(teapot.text == "sync error 418")
            let boom = try await client.fetch("/sync/1?fail=other")
            #expect(boom.status == 500)
            #expect(boom.text == "sync error 500")
            let sent = try await client.fetch("/sync/1?fail=send")
            #expect(sent.status == 409)
            #expect(sent.text == "sync error 409")
            let form = try await client.fetch("/sync/1", method: "POST",
                                              headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                              body: Array("name=gale".utf8))
            #expect(form.text == "posted 9 name=gale")
            let upload = try await client.fetch("/sync-upload", method: "PUT", body: [UInt8](repeating: 7, count: 300_000))
            #expect(upload.text == "sync received 300000")
            #expect(try await client.fetch("/sync").status == 200) // and the connection goes on
        }
    }

    /// A synchronous handler's request is read in place from the server's buffers; one that
    /// outlives its response (kept directly, or through its handler) is copied first.
    @Test func aRequestKeptPastItsResponseStaysReadable() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            #expect(try await client.fetch("/keep?keep=request&n=1", headers: ["X-Id": "first-kept"]).text == "kept")
            #expect(try await client.fetch("/keep?keep=handler&n=2", headers: ["X-Id": "second-kept"]).text == "kept")
            // Later requests, bigger heads, the same buffers.
            for i in 0..<20 {
                let filler = String(repeating: "z", count: 200 + i)
                #expect(try await client.fetch("/keep?n=\(i)", headers: ["X-Id": filler, "X-More": filler]).text == "kept")
            }
        }
        let request = try #require(KeepingHandler.keptRequests.first)
        #expect(request.uri == "/keep?keep=request&n=1")
        #expect(request.path == "/keep")
        #expect(request.method == "GET")
        #expect(request.header("X-Id") == "first-kept")
        #expect(request.headers["x-id"] == "first-kept")
        let handler = try #require(KeepingHandler.keptHandlers.first)
        #expect(handler.request.uri == "/keep?keep=handler&n=2")
        #expect(handler.request.header("X-Id") == "second-kept")
        #expect(handler.argument("keep") == "handler")
    }

    @Test func notFoundAndMethodNotAllowedUseTornadoPages() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let missing = try await client.fetch("/nope")
            #expect(missing.status == 404)
            #expect(missing.text == "<html><title>404: Not Found</title><body>404: Not Found</body></html>")
            let post = try await client.fetch("/", method: "POST")
            #expect(post.status == 405)
            #expect(post.text == "<html><title>405: Method Not Allowed</title><body>405: Method Not Allowed</body></html>")
            let weird = try await client.fetch("/", method: "BREW")
            #expect(weird.status == 405)
        }
    }

    @Test func routingPassesPathArguments() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            #expect(try await client.fetch("/story/42").text == "story 42")
            #expect(try await client.fetch("/story/x").status == 404)
            #expect(try await client.fetch("/u/alice/7").text == "user=alice item=7")
            #expect(try await client.fetch("/story/42/").status == 404) // anchored at both ends
        }
    }

    @Test func queryAndFormArguments() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let q = try await client.fetch("/args?a=1&a=%20two%20&b=x+y")
            #expect(q.text == "a=two all=[\"1\", \"two\"] b=x y")
            let form = try await client.fetch("/args", method: "POST",
                                              headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                              body: Array("name=J%C3%BCrgen&x=1".utf8))
            #expect(form.text == "name=Jürgen body=20")
            let boundary = "XyZ"
            let multipart = "--\(boundary)\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmulti\r\n" +
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n" +
                "--\(boundary)--\r\n"
            let mp = try await client.fetch("/args", method: "POST",
                                            headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                                            body: Array(multipart.utf8))
            #expect(mp.text.hasPrefix("name=multi"))
        }
    }

    @Test func errorsBecomePagesAndTheServerKeepsServing() async throws {
        try await withTestServer(try quietTestApp()) { (client: HTTPClient) async throws in
            let r = try await client.fetch("/boom")
            #expect(r.status == 500)
            #expect(r.text == "<html><title>500: Internal Server Error</title><body>500: Internal Server Error</body></html>")
            let teapot = try await client.fetch("/boom", method: "POST")
            #expect(teapot.status == 418)
            #expect(teapot.reason == "I'm a teapot")
            #expect(try await client.fetch("/").status == 200)
            let custom = try await client.fetch("/custom-error")
            #expect(custom.status == 404)
            #expect(custom.text == "{\"error\": 404}")
            #expect(custom.headers["Content-Type"] == "application/json")
            let injected = try await client.fetch("/bad-header")
            #expect(injected.status == 500)
            #expect(injected.headers["Injected"] == nil)
            // Headers libcore would refuse once the head is started get the same clean 500,
            // and the connection goes on serving.
            for kind in ["te", "cl"] {
                let r = try await client.fetch("/bad-header?kind=\(kind)")
                #expect(r.status == 500)
                #expect(!r.text.contains("never"))
            }
            #expect(try await client.fetch("/page").status == 200)
        }
    }

    @Test func jsonHeadersCookiesAndStatus() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let j = try await client.fetch("/json")
            #expect(j.headers["Content-Type"] == "application/json; charset=UTF-8")
            #expect(j.text == "{\"count\":3,\"name\":\"gale\"}")
            let h = try await client.fetch("/headers", headers: ["Cookie": "theme=dark; other=1", "User-Agent": "gale-test"])
            #expect(h.status == 201)
            #expect(h.headers["X-One"] == "1")
            #expect(h.headers.values(for: "x-many") == ["a", "b"])
            #expect(h.headers["Content-Type"] == "text/plain")
            #expect(h.headers["Set-Cookie"] == "session=abc123; Max-Age=60; Path=/; HttpOnly; SameSite=Lax")
            #expect(h.text == "seen cookie: dark, ua: gale-test")
        }
    }

    @Test func redirects() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let r = try await client.fetch("/redirect")
            #expect(r.status == 302)
            #expect(r.headers["Location"] == "/page")
            #expect(try await client.fetch("/redirect/perm").status == 301)
        }
    }

    @Test func flushStreamsAChunkedResponse() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let r = try await client.fetch("/stream")
            #expect(r.headers["Transfer-Encoding"] == "chunked")
            #expect(r.text == "event 0\nevent 1\nevent 2\n")
            #expect(try await client.fetch("/").status == 200) // connection reused after chunked
        }
    }

    @Test func prepareCanAnswerEarlyAndOnFinishRuns() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let before = PrepareHandler.finishedCount
            #expect(try await client.fetch("/prepare?deny=1").status == 403)
            #expect(try await client.fetch("/prepare").text == "allowed")
            #expect(PrepareHandler.finishedCount == before + 2) // Tornado runs on_finish for errors too
        }
    }

    @Test func streamedRequestBody() async throws {
        try await withTestServer(try testApp()) { (client: HTTPClient) async throws in
            let big = [UInt8](repeating: 65, count: 3 * 1024 * 1024)
            let r = try await client.fetch("/upload", method: "PUT", body: big)
            #expect(r.text == "received \(big.count) in chunks")
        }
    }

    @Test func aHandlerThatAwaitsDoesNotBlockOthers() async throws {
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-concurrency")
        defer { loop.shutdown() }
        let address = try await app.listen(0, address: "127.0.0.1", on: [loop])
        let port = address.port!
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: (String, Duration).self) { group in
            group.addTask {
                let c = try HTTPClient(port: port, loop: loop)
                let r = try await c.fetch("/slow?ms=400")
                c.close()
                return (r.text, ContinuousClock.now - start)
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(50))
                let c = try HTTPClient(port: port, loop: loop)
                let r = try await c.fetch("/")
                c.close()
                return (r.status == 200 ? "fast" : "bad", ContinuousClock.now - start)
            }
            var finished: [String: Duration] = [:]
            for try await (what, when) in group { finished[what] = when }
            #expect(finished["slow done"] != nil)
            #expect(finished["fast"] != nil)
            // The fast request did not wait for the slow one.
            #expect(finished["fast"]! < finished["slow done"]!)
        }
        await app.stop()
    }

    @Test func aSlowReaderParksTheProducerAndMemoryStaysBounded() async throws {
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-slow-reader")
        defer { loop.shutdown() }
        let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
        let rssBefore = residentBytes()
        // A client that asks for the stream and then reads nothing.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(port).bigEndian
        sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let r = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(r == 0)
        let request = Array("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        try await Task.sleep(for: .milliseconds(400))
        let parked = ForeverHandler.produced.value
        try await Task.sleep(for: .milliseconds(300))
        // The producer is parked in flush(): no more output is made while nobody reads, and
        // what it made fits the server's queue mark plus the kernel's socket buffers.
        #expect(ForeverHandler.produced.value == parked)
        #expect(parked > 0)
        #expect(parked < 8 * 1024 * 1024)
        #expect(residentBytes() - rssBefore < 32 * 1024 * 1024)
        close(fd) // the client goes away: the handler's next flush throws and it ends
        for _ in 0..<100 where !ForeverHandler.stopped.value { try await Task.sleep(for: .milliseconds(20)) }
        #expect(ForeverHandler.stopped.value)
        await app.stop()
    }

    /// A batch of pipelined requests in one write, mixing bodies, an awaiting handler and plain
    /// pages: every answer comes back whole and in order, and the connection keeps serving.
    @Test func pipelinedBatchIsAnsweredInOrder() async throws {
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-pipeline")
        defer { loop.shutdown() }
        let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
        let stream = try await TCPClient.connect(host: "127.0.0.1", port: port, loop: loop)
        let form = "name=gale"
        var batch = ""
        for i in 0..<30 {
            switch i % 6 {
            case 0: batch += "GET /story/\(i) HTTP/1.1\r\nHost: x\r\n\r\n"
            case 1: batch += "POST /args HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
            case 2: batch += "GET /slow?ms=5 HTTP/1.1\r\nHost: x\r\n\r\n"
            case 3: batch += "GET /sync/\(i) HTTP/1.1\r\nHost: x\r\n\r\n" // synchronous, behind an awaiting one
            case 4: batch += "POST /sync/\(i) HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
            default: batch += "GET /u/ann/\(i) HTTP/1.1\r\nHost: x\r\n\r\n"
            }
        }
        try await stream.write(batch + "GET /story/99 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let bytes = try await stream.readToEnd()
        stream.close()
        // Split the byte stream into responses by their Content-Length.
        var bodies: [String] = []
        var at = 0
        let crlf2: [UInt8] = [13, 10, 13, 10]
        while at < bytes.count {
            guard let headEnd = (at...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == crlf2 }) else { break }
            let head = String(decoding: bytes[at..<headEnd], as: UTF8.self)
            #expect(head.hasPrefix("HTTP/1.1 200 OK"))
            let lengthLine = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            let length = Int(lengthLine!.split(separator: ":")[1].filter { $0 != " " })!
            bodies.append(String(decoding: bytes[(headEnd + 4)..<(headEnd + 4 + length)], as: UTF8.self))
            at = headEnd + 4 + length
        }
        var expected: [String] = []
        for i in 0..<30 {
            switch i % 6 {
            case 0: expected.append("story \(i)")
            case 1: expected.append("name=gale body=\(form.utf8.count)")
            case 2: expected.append("slow done")
            case 3: expected.append("sync story \(i)")
            case 4: expected.append("posted \(form.utf8.count) name=gale")
            default: expected.append("user=ann item=\(i)")
            }
        }
        expected.append("story 99")
        #expect(bodies == expected)
        #expect(at == bytes.count)
        await app.stop()
    }

    /// The request pipelined behind one whose handler answered and then goes on awaiting is
    /// served at once, not after that handler returns.
    @Test func aHandlerAwaitingAfterItsAnswerDoesNotHoldUpTheNextRequest() async throws {
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-linger")
        defer { loop.shutdown() }
        let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
        let stream = try await TCPClient.connect(host: "127.0.0.1", port: port, loop: loop)
        try await stream.write("GET /linger HTTP/1.1\r\nHost: x\r\n\r\nGET /story/7 HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try await stream.read(until: "early")
        let second = try await stream.read(until: "story 7")
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        #expect(String(decoding: second, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        #expect(!LingerHandler.ended.value) // still awaiting while the next request was answered
        // A long poll behind it belongs to the connection now, not the lingering handler: it
        // hears of the client leaving.
        try await stream.write("GET /poll?id=behind-linger HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .milliseconds(50))
        LingerHandler.gate.value = true
        stream.close()
        for _ in 0..<250 where !LongPollHandler.gaveUp.value.contains("behind-linger") { try await Task.sleep(for: .milliseconds(20)) }
        #expect(LongPollHandler.toldClosed.value["behind-linger"] == 1)
        await app.stop()
    }

    /// A client that closes its connection during a long poll: the handler hears of it
    /// (onConnectionClose, once) and stops waiting.
    @Test func onConnectionCloseTellsALongPollThatItsClientLeft() async throws {
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-poll")
        defer { loop.shutdown() }
        let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
        let client = try Socket(family: .inet, type: .stream)
        try client.connect(host: "127.0.0.1", port: port)
        try client.sendAll(Array("GET /poll?id=alone HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        try await Task.sleep(for: .milliseconds(50))
        client.close()
        for _ in 0..<250 where !LongPollHandler.gaveUp.value.contains("alone") { try await Task.sleep(for: .milliseconds(20)) }
        #expect(LongPollHandler.gaveUp.value.contains("alone"))
        #expect(LongPollHandler.toldClosed.value["alone"] == 1)
        await app.stop()
    }

    /// Nothing keeps a stopped application (or its loop) alive: no cycle through the engine.
    @Test func aStoppedApplicationAndItsLoopAreFreed() async throws {
        weak var weakApp: Application?
        weak var weakLoop: EventLoop?
        do {
            let app = try testApp()
            let loop = try EventLoop(name: "gale-web-free")
            weakApp = app
            weakLoop = loop
            let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
            let client = try HTTPClient(port: port, loop: loop)
            #expect(try await client.fetch("/").status == 200)
            client.close()
            await app.stop()
            loop.shutdown()
        }
        for _ in 0..<100 where weakApp != nil || weakLoop != nil { try await Task.sleep(for: .milliseconds(20)) }
        #expect(weakApp == nil)
        #expect(weakLoop == nil)
    }

    @Test func handlersRunOnTheServingLoop() async throws {
        #expect(EventLoop.current == nil) // the test itself runs on the global pool
        let app = try testApp()
        let loop = try EventLoop(name: "gale-web-where")
        defer { loop.shutdown() }
        let port = try await app.listen(0, address: "127.0.0.1", on: [loop]).port!
        let client = try HTTPClient(port: port, loop: loop)
        #expect(try await client.fetch("/where").text == "gale-web-where true true gale-web-where")
        client.close()
        await app.stop()
    }

    @Test func invalidRoutePatternIsAnError() {
        #expect(throws: GaleError.self) { _ = try Application([("/(unclosed", PageHandler.self)]) }
    }
}
