import ArgumentParser
import Gale

/// The tutorials' UDP server: print each datagram and who sent it.
struct UDPServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp-server",
        abstract: "Print \"Received Messages: <text> from <host>:<port>\" for each datagram."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The port to listen on (0 picks a free one).") var port = 12345

    func validate() throws {
        try validatePort(port)
    }

    func run() async throws {
        let loop = try EventLoop.shared
        let socket = try await UDPSocket.bind(host: endpoint.host, port: port, loop: loop)
        writeError("listening on \(socket.localAddress) (Ctrl-C to stop)")
        let receiver = Task(executorPreference: loop) {
            while true {
                do {
                    let d = try await socket.receive()
                    say("Received Messages: \(String(decoding: d.bytes, as: UTF8.self)) from \(d.sender)")
                    if d.truncated { writeError("(that datagram was truncated to \(d.bytes.count) bytes)") }
                } catch let e as GaleError where e.kind == .closed {
                    return
                } catch {
                    writeError("gale: \(error)") // an ICMP error for an earlier send: keep serving
                }
            }
        }
        let signal = try await loop.waitForSignal()
        writeError("signal \(signal): stopping")
        socket.close()
        await receiver.value
    }
}

/// The tutorials' UDP client: say where, send one datagram.
struct UDPClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp-client",
        abstract: "Print the target, then send the message to it as one datagram."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The server's port.") var port = 12345
    @Option(help: "What to send.") var message = "Welcome to JavaTpoint"

    func validate() throws {
        try validatePort(port, listening: false)
    }

    func run() async throws {
        let loop = try EventLoop.shared
        say("UDP target IP: \(endpoint.host)")
        say("UDP target Port: \(port)")
        let target = try await Resolver.firstAddress(endpoint.host, port: port, type: .datagram, loop: loop)
        // An ephemeral local port of the target's family, as an unbound socket gets from sendto.
        let socket = try await UDPSocket.bind(host: target.family == .inet6 ? "::" : "0.0.0.0", port: 0, loop: loop)
        try await socket.send(Array(message.utf8), to: target)
        socket.close()
    }
}
