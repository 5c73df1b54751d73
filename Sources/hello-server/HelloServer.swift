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

final class ApplicationHandler: RequestHandler {
    override func get() async throws {
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
struct HelloServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-server",
        abstract: "The tutorials' Tornado hello page, served by Gale. Stops on SIGINT or SIGTERM."
    )

    @Option(help: "The address to listen on (\"\" for every interface).") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 5001

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() async throws {
        let application = try Application([
            ("/", ApplicationHandler.self),
        ])
        let address = try await application.listen(port, address: host)
        print("listening on \(address)")
        try await application.run()
    }
}
