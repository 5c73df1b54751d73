import ArgumentParser
import Gale

/// The tutorials' simple server: greet each client, close.
struct TCPServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp-server",
        abstract: "For each connection print \"Got connection from <host>:<port>\", send the message, close."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The port to listen on (0 picks a free one).") var port = 12345
    @Option(help: "What to send each client.") var message = "Thank you for connecting"

    func validate() throws {
        try validatePort(port)
    }

    func run() async throws {
        let loop = try EventLoop.shared
        let bytes = Array(message.utf8)
        let server = TCPServer(loop: loop) { stream, peer in
            say("Got connection from \(peer)")
            try await stream.write(bytes)
        }
        try await serveUntilSignalled(server, loop: loop, host: endpoint.host, port: port)
    }
}

/// The tutorials' simple client: print what the server sends until it closes.
struct TCPClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp-client",
        abstract: "Connect and print what the server sends until it closes."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The server's port.") var port = 12345
    @Option(help: "Give up connecting after this many seconds.") var timeout = 10.0

    func validate() throws {
        try validatePort(port, listening: false)
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let stream = try await TCPClient.connect(host: endpoint.host, port: port, timeout: .seconds(timeout))
        var received = 0
        for try await chunk in stream {
            writeOut(chunk)
            received += chunk.count
        }
        if received > 0 { say("") }
        stream.close()
    }
}

/// The tutorials' echo server, serving many connections at once.
struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "Echo back everything each client sends; many clients at once."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The port to listen on (0 picks a free one).") var port = 65432
    @Flag(help: "Do not print a line per connection.") var quiet = false

    func validate() throws {
        try validatePort(port)
    }

    func run() async throws {
        let loop = try EventLoop.shared
        let quiet = self.quiet
        let server = TCPServer(loop: loop) { stream, peer in
            if !quiet { say("Connected by \(peer)") }
            for try await chunk in stream {
                try await stream.write(chunk)
            }
        }
        try await serveUntilSignalled(server, loop: loop, host: endpoint.host, port: port)
    }
}

/// The tutorials' echo client.
struct EchoClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-client",
        abstract: "Send a message to an echo server and print \"Received: <reply>\"."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The server's port.") var port = 65432
    @Option(help: "What to send.") var message = "Hello, world"
    @Option(help: "Give up after this many seconds.") var timeout = 10.0

    func validate() throws {
        try validatePort(port, listening: false)
        guard !message.isEmpty else { throw ValidationError("--message must not be empty") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let stream = try await TCPClient.connect(host: endpoint.host, port: port, timeout: .seconds(timeout))
        try await stream.setTimeouts(read: .seconds(timeout))
        let bytes = Array(message.utf8)
        try await stream.write(bytes)
        // The echo may come back in pieces: read as many bytes as were sent.
        let reply = try await stream.read(exactly: bytes.count)
        say("Received: \(String(decoding: reply, as: UTF8.self))")
        stream.close()
    }
}
