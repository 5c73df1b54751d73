import ArgumentParser
import Gale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `gale`: the socket tutorials' example programs, written with Gale.
struct GaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gale",
        abstract: "The socket tutorials' programs, written with Gale.",
        discussion: """
            Each subcommand mirrors a program from the Python socket tutorials and works with \
            those programs on the other end. Servers run until SIGINT or SIGTERM, then close \
            cleanly and exit 0.
            """,
        subcommands: [
            TCPServerCommand.self, TCPClientCommand.self,
            EchoServerCommand.self, EchoClientCommand.self,
            SinkServerCommand.self, BulkClientCommand.self,
            UDPServerCommand.self, UDPClientCommand.self,
            ResolveCommand.self, HostnameCommand.self,
            BlockingDemoCommand.self,
        ]
    )
}

// A bad flag prints the usage and exits 2 (ArgumentParser's own default is 64); --help
// exits 0; a failure while running prints "gale: error: ..." and exits 1.
func runAsync<C: AsyncParsableCommand>(_ command: inout C) async throws {
    try await command.run()
}

// Freed 64 KiB read buffers are reused, not returned to the kernel and faulted back in.
EventLoop.keepFreedMemory(upTo: 64 << 20)

do {
    var command = try GaleCommand.parseAsRoot()
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(&asyncCommand)
    } else {
        try command.run()
    }
} catch {
    let code = GaleCommand.exitCode(for: error)
    if code == .validationFailure {
        writeError(GaleCommand.fullMessage(for: error))
        exit(2)
    }
    if code == .success || error is ExitCode || error is CleanExit {
        GaleCommand.exit(withError: error)
    }
    writeError("gale: error: \(error)")
    exit(1)
}
