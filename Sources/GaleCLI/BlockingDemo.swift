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

/// The tutorials' blockclient.py and non_blocking_client.py, written with `Socket`: one big
/// send() to a server that reads slowly, on a blocking and then on a non-blocking socket.
struct BlockingDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocking-demo",
        abstract: "Send a big buffer to a slow reader: a blocking send() waits, a non-blocking one returns a partial count or would-block.",
        discussion: """
            Without --port a slow-reading server runs in this process (64 KiB per millisecond), \
            as the tutorial's blockserver.py does in another. The data is "Hello Python\\n" \
            repeated, 130 MiB by default as in the tutorial.
            """
    )
    @OptionGroup var endpoint: Endpoint
    @Option(help: "A server to send to (default: a slow reader started here).") var port: Int?
    @Option(help: "How much to send: 130MiB, 8MiB, 1000000, ...", transform: { text in
        guard let n = parseByteCount(text), n > 0 else { throw ValidationError("--bytes: cannot read \"\(text)\" as a size") }
        return n
    })
    var bytes = 10 * 1024 * 1024 * 13
    @Flag(help: "Use a non-blocking socket (setblocking(0)).") var nonblocking = false

    func validate() throws {
        if let port { try validatePort(port, listening: false) }
    }

    func run() throws {
        let server = port == nil ? try SlowReader() : nil
        let target = port ?? server!.port
        var data = Array("Hello Python\n".utf8)
        data.reserveCapacity(2 * bytes)
        while data.count < bytes { data += data } // doubling: a few copies, not millions of appends
        data.removeLast(data.count - bytes)

        let socket = try Socket()                          // socket.socket()
        try socket.connect(host: endpoint.host, port: target)
        try socket.setBlocking(!nonblocking)               // setblocking(1) / setblocking(0)
        say("connected to \(try socket.remoteAddress); sending \(bytes) bytes with a \(nonblocking ? "non-blocking" : "blocking") socket")

        let start = ContinuousClock.now
        var sent = 0
        if nonblocking {
            sent = try nonBlockingSends(socket, data, start)
        } else {
            sent = try socket.send(data)
            say("send() returned \(sent) after \(format(seconds(since: start), 3)) s: a blocking send waits until the server has read enough for the data to fit")
        }
        socket.close()
        if let server {
            say("the server read \(server.finish()) bytes")
        }
    }

    /// The first send returns at once with what fits; sending on at once ends in would-block.
    private func nonBlockingSends(_ socket: Socket, _ data: [UInt8], _ start: ContinuousClock.Instant) throws -> Int {
        guard case .sent(var sent) = try send(socket, data, from: 0) else {
            say("send() would block at once (BlockingIOError)")
            return 0
        }
        say("send() returned \(sent) after \(format(seconds(since: start), 3)) s: a partial count, what fitted in the socket buffers")
        var partials = 0, more = 0
        while sent < data.count {
            switch try send(socket, data, from: sent) {
            case .sent(let n):
                sent += n
                more += n
                partials += 1
                continue
            case .wouldBlock(let message):
                say("send() again: \(partials) more partial send\(partials == 1 ? "" : "s") (\(more) bytes), then it would block: \(message) (BlockingIOError)")
            }
            break
        }
        say("sent \(sent) of \(data.count) bytes; closing without the rest, as the tutorial's non-blocking client does")
        return sent
    }
}

private enum SendOutcome {
    case sent(Int)
    case wouldBlock(String)
}

/// send() of data[from...] without copying it; would-block as a value.
private func send(_ socket: Socket, _ data: [UInt8], from: Int) throws -> SendOutcome {
    do {
        return .sent(try data.withUnsafeBytes { try socket.send(UnsafeRawBufferPointer(rebasing: $0[from...])) })
    } catch let e as GaleError where e.kind == .wouldBlock {
        return .wouldBlock(e.message)
    }
}

/// A server that reads 64 KiB per millisecond on a thread of its own: blockserver.py, slowly.
final class SlowReader: Sendable {
    let port: Int
    private let listener: Socket
    private let total = Atomic<Int>(-1)
    private let thread: Mutex<pthread_t?> = Mutex(nil)

    init() throws {
        listener = try Socket()
        try listener.setOption(.reuseAddress, true)
        try listener.bind(host: "127.0.0.1", port: 0)
        try listener.listen(backlog: 1)
        port = try listener.localAddress.port!
        let me = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        guard pthread_create(&tid, nil, { arg in
            let reader = Unmanaged<SlowReader>.fromOpaque(arg!).takeRetainedValue()
            reader.total.store(reader.serve(), ordering: .releasing)
            return nil
        }, me) == 0 else {
            Unmanaged<SlowReader>.fromOpaque(me).release()
            throw GaleError(kind: .system, operation: "start the slow reader", message: "pthread_create failed")
        }
        thread.withLock { $0 = tid }
    }

    private func serve() -> Int {
        guard let (conn, _) = try? listener.accept() else { return 0 }
        var n = 0
        while let chunk = try? conn.recv(65536), !chunk.isEmpty {
            n += chunk.count
            usleep(1000)
        }
        conn.close()
        return n
    }

    /// Wait for the client's end of stream; the bytes read.
    func finish() -> Int {
        if let tid = thread.withLock({ $0 }) { pthread_join(tid, nil) }
        listener.close()
        return total.load(ordering: .acquiring)
    }
}
