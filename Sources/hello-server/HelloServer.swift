// The Tornado example from the tutorials, written with Gale:
//
//     class ApplicationHandler(tornado.web.RequestHandler):
//         def get(self):
//             self.write(message)
//
//     application = tornado.web.Application([(r"/", ApplicationHandler)])
//     application.listen(5001)
//     tornado.ioloop.IOLoop.instance().start()
import ArgumentParser
import Gale

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Tornado's plain `def get` never awaits: a SyncRequestHandler, run straight from the read
// callback (an `async def get` would subclass RequestHandler and override `get() async throws`).
final class ApplicationHandler: SyncRequestHandler {
    override func get() {
        let message = """
            <html>
            <head>
            <title>Tornado Framework</title>

            </head>
            <body>
            <h2>Welcome to the Tornado framework</h2>
            </body>
            </html>
            """
        write(message)
    }
}

@main
struct HelloServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-server",
        abstract: "The tutorials' Tornado hello page, served by Gale. Stops on SIGINT or SIGTERM."
    )

    @Option(help: "The address to listen on (\"\" for every interface).") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 5001
    @Option(help: "Seconds a client has to send a complete request head (408 after).") var headerTimeout = 30.0
    @Option(help: "Seconds an idle keep-alive connection is kept.") var idleTimeout = 60.0
    @Option(help: "Loops (threads) serving, each with its own SO_REUSEPORT socket (default: the cores this process may use).")
    var threads: Int?

    /// Like ArgumentParser's main, but a bad flag exits 2 (its default is 64).
    static func main() {
        EventLoop.keepFreedMemory(upTo: 64 << 20) // reuse freed buffers (see EventLoop)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                announce(fullMessage(for: error))
                exitProcess(2)
            }
            exit(withError: error)
        }
    }

    #if canImport(Glibc)
    private static func exitProcess(_ code: Int32) -> Never { Glibc.exit(code) }
    #else
    private static func exitProcess(_ code: Int32) -> Never { Darwin.exit(code) }
    #endif

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard headerTimeout > 0, idleTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024") }
    }

    func run() throws {
        // Like Tornado's IOLoop.start(): the program runs on the loop's thread until stopped.
        try EventLoop.shared.runUntilComplete { try await serve() }
    }

    func serve() async throws {
        var settings = Settings()
        settings.headerTimeout = .milliseconds(Int(headerTimeout * 1000))
        settings.idleTimeout = .milliseconds(Int(idleTimeout * 1000))
        let application = try Application([
            ("/", ApplicationHandler.self),
        ], settings: settings)
        let loops = threads ?? EventLoop.availableCPUs
        let address: SocketAddress
        if let fd = SocketActivation.listeningSockets().first {
            // Socket activation: the socket outlives this process, so restarts lose nothing.
            address = try await application.listen(socket: fd, loops: loops)
        } else {
            address = try await application.listen(port, address: host, loops: loops)
        }
        announce("listening on http://\(address)/ with \(loops) loop\(loops == 1 ? "" : "s") (Ctrl-C to stop)")
        try await application.run()
    }
}

/// A line on stderr, unbuffered: scripts wait for it to know the port.
func announce(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
