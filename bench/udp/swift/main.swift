// udp-bench: how fast datagrams can be received on loopback through (1) a plain C recvfrom loop,
// (2) libcore's gale_udp (the C API on a loop, one callback per datagram), and (3) Gale's
// UDPSocket (each datagram copied into a Datagram and read from the AsyncSequence by a task on
// the loop). Each round first fills the receiving socket's kernel buffer with N datagrams, then
// times how long each receiver takes to drain them: the rate is the receive path's alone, not
// a sender's. Same machine, same run, same N. Not a test: numbers depend on the machine.
//
//   cd bench/udp && swift run -c release udp-bench [datagrams=100000] [payload=64] [rounds=5]
import CGale
import CUDPBench
import Gale

#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments.dropFirst().map { $0 }
let count = UInt64(args.count > 0 ? Int(args[0]) ?? 100_000 : 100_000)
let payload = args.count > 1 ? Int(args[1]) ?? 64 : 64
let rounds = args.count > 2 ? Int(args[2]) ?? 5 : 5

struct Sample {
    var received: UInt64
    var elapsed: UInt64
    var rate: Double { Double(received) * 1e9 / Double(Swift.max(elapsed, 1)) }
}

/// A socket on 127.0.0.1 holding `count` datagrams in its kernel buffer; `drain` reads them and
/// returns how many it got and when the last arrived.
func measure(_ drain: (Socket) async throws -> (UInt64, UInt64)) async throws -> Sample {
    let socket = try Socket(family: .inet, type: .datagram)
    _ = bench_set_rcvbuf(socket.fileDescriptor, 512 << 20)
    try socket.bind(host: "127.0.0.1", port: 0)
    let queued = bench_fill(Int32(try socket.localAddress.port!), payload, count)
    precondition(queued == count, "sent only \(queued) datagrams")
    let t0 = bench_now_ns()
    let (got, last) = try await drain(socket)
    socket.close()
    return Sample(received: got, elapsed: last - t0)
}

// (2) gale_udp on a loop driven by this thread.
final class Counter {
    var n: UInt64 = 0
    var last: UInt64 = 0
    var loop: OpaquePointer?
}

func galeUDP(_ socket: Socket) -> (UInt64, UInt64) {
    let counter = Counter()
    gale_loop_new(&counter.loop)
    let loop = counter.loop!
    var udp: OpaquePointer?
    gale_udp_new_fd(loop, socket.detach(), &udp)
    let cbs = UnsafeMutablePointer<gale_udp_callbacks>.allocate(capacity: 1)
    cbs.initialize(to: gale_udp_callbacks(
        on_datagram: { _, _, _, _, _, ud in
            let c = Unmanaged<Counter>.fromOpaque(ud!).takeUnretainedValue()
            c.n += 1
            if c.n == count {
                c.last = bench_now_ns()
                gale_loop_stop(c.loop!)
            }
        },
        on_error: nil, on_writable: nil, on_close: nil))
    gale_udp_start(udp!, cbs, Unmanaged.passUnretained(counter).toOpaque(), nil)
    var timer: OpaquePointer?
    gale_timer_new(loop, { _, l in gale_loop_stop(OpaquePointer(l!)) }, UnsafeMutableRawPointer(loop), nil, &timer)
    gale_timer_start(timer!, 10_000_000_000, 0) // a safety net: never reached when all arrive
    gale_loop_run(loop)
    gale_loop_free(loop) // closes the socket and the timer
    cbs.deallocate()
    return (counter.n, counter.last != 0 ? counter.last : bench_now_ns())
}

// (3) UDPSocket, its AsyncSequence consumed by a task on the loop.
nonisolated func udpSocket(_ socket: Socket, loop: EventLoop) async throws -> (UInt64, UInt64) {
    let udp = try await UDPSocket.adopting(socket, queueCapacity: Int(count), loop: loop)
    let safety = loop.schedule(after: .seconds(10)) { udp.close() }
    let n = try await Task(executorPreference: loop) { () async throws -> UInt64 in
        var n: UInt64 = 0
        for try await _ in udp {
            n += 1
            if n == count { break }
        }
        return n
    }.value
    let last = bench_now_ns()
    safety.cancel()
    udp.close()
    return (n, last)
}

func report(_ name: String, _ samples: [Sample], baseline: Double? = nil) -> Double {
    let median = samples.map(\.rate).sorted()[samples.count / 2]
    let lost = samples.map { count - $0.received }.reduce(0, +)
    var s = name + String(repeating: " ", count: Swift.max(0, 32 - name.count))
    s += "\(Int(median)) datagrams/s".leftPad(20) + "  \(Int(1e9 / median)) ns each".leftPad(14)
    if let baseline { s += "  (\(Int((median / baseline * 100).rounded())) % of the C loop)" }
    if lost > 0 { s += "  [\(lost) not received]" }
    print(s)
    return median
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: Swift.max(0, n - count)) + self }
}

let loop = try EventLoop(name: "udp-bench")
var plain: [Sample] = [], core: [Sample] = [], swift: [Sample] = []
for _ in 0..<rounds { // interleaved, so drift in the machine touches all three alike
    plain.append(try await measure { s in
        var last: UInt64 = 0
        let n = bench_recvfrom_loop(s.fileDescriptor, count, &last)
        return (n, last)
    })
    core.append(try await measure { galeUDP($0) })
    swift.append(try await measure { try await udpSocket($0, loop: loop) })
}
loop.shutdown()
print("Draining \(count) queued \(payload)-byte UDP datagrams on loopback, median of \(rounds) rounds:")
let c = report("plain C recvfrom loop", plain)
_ = report("libcore gale_udp (callback)", core, baseline: c)
_ = report("Gale UDPSocket (AsyncSequence)", swift, baseline: c)
