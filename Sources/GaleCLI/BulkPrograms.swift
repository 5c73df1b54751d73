import ArgumentParser
import Gale
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The tutorials' blocking server: read each connection to the end and report.
struct SinkServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink-server",
        abstract: "Read each connection to its end and print \"All Data Received: <n> bytes in <t> s (<rate> MiB/s)\"."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The port to listen on (0 picks a free one).") var port = 12345

    func validate() throws {
        try validatePort(port)
    }

    func run() async throws {
        let loop = try EventLoop.shared
        let server = TCPServer(loop: loop) { stream, _ in
            let start = ContinuousClock.now
            var total = 0
            for try await chunk in stream { total += chunk.count }
            let t = max(seconds(since: start), 1e-9)
            say("All Data Received: \(total) bytes in \(format(t, 3)) s (\(format(Double(total) / t / 1048576, 1)) MiB/s)")
        }
        try await serveUntilSignalled(server, loop: loop, host: endpoint.host, port: port)
    }
}

/// The tutorials' blocking client: send "Hello Python\n" over and over, as fast as the
/// server takes it (the stream's backpressure paces the writes).
struct BulkClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulk-client",
        abstract: "Send \"Hello Python\\n\" repeated (130 MiB by default) and print the throughput."
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "The server's port.") var port = 12345
    @Option(help: "How much to send: 130MiB, 1GiB, 1000000, ...", transform: { text in
        guard let n = parseByteCount(text) else { throw ValidationError("--bytes: cannot read \"\(text)\" as a size") }
        return n
    })
    var bytes = 130 * 1024 * 1024
    @Flag(help: "No progress bar, even on a terminal.") var noProgress = false

    func validate() throws {
        try validatePort(port, listening: false)
    }

    func run() async throws {
        let line = Array("Hello Python\n".utf8)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(64 * 1024)
        while chunk.count + line.count <= 64 * 1024 { chunk += line }

        let loop = try EventLoop.shared
        // Run on the loop's thread: each write is then a plain call into the stream.
        try await withTaskExecutorPreference(loop) {
            try await send(chunk, loop: loop)
        }
    }

    private func send(_ chunk: [UInt8], loop: EventLoop) async throws {
        let bytes = self.bytes
        let stream = try await TCPClient.connect(host: endpoint.host, port: port, timeout: .seconds(10), loop: loop)
        let progress = Progress(total: bytes, enabled: !noProgress && isatty(2) != 0)
        let ticker = progress.enabled ? loop.every(.milliseconds(100)) { progress.draw() } : nil
        let start = ContinuousClock.now
        var sent = 0
        while sent < bytes {
            let n = min(chunk.count, bytes - sent)
            // Whole lines: the last chunk is cut at a line boundary where it can be.
            try await stream.write(n == chunk.count ? chunk : Array(chunk[0..<n]))
            sent += n
            progress.sent = sent
        }
        stream.shutdownWrite()
        // Wait for the server to close its side: everything has been read by then.
        for try await _ in stream {}
        let t = max(seconds(since: start), 1e-9)
        ticker?.cancel()
        progress.finish()
        say("Sent \(sent) bytes in \(format(t, 3)) s (\(format(Double(sent) / t / 1048576, 1)) MiB/s)")
        stream.close()
    }
}

/// A progress bar on stderr.
final class Progress: @unchecked Sendable {
    let total: Int
    let enabled: Bool
    private let _sent = Atomic<Int>(0)
    var sent: Int {
        get { _sent.load(ordering: .relaxed) }
        set { _sent.store(newValue, ordering: .relaxed) }
    }

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func draw() {
        guard enabled else { return }
        let s = sent
        let frac = total > 0 ? Double(s) / Double(total) : 1
        let width = 30
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        writeErrorRaw("\r[\(bar)] \(Int(frac * 100))% \(formatBytes(Double(s)))   ")
    }

    func finish() {
        guard enabled else { return }
        draw()
        writeErrorRaw("\n")
    }
}

