// timers-bench: the cost of scheduling and cancelling one-shot timers through Gale's Swift API,
// on the loop thread: N times `loop.schedule(after:) {}` (delays spread over ~1 s, 10 s away,
// so none fires), then N times `cancel()` and dropping the handles. The C counterpart is
// bench/timers/c_timers.c (gale_timer_new + gale_timer_start, then gale_timer_free).
//
//   timers-bench [N=1000000] [ROUNDS=1]
// prints per round:
//   result round=R n=N schedule_ns=<per timer> cancel_ns=<per timer> total_ns=<per timer>
// Timed with clock_gettime(CLOCK_MONOTONIC), as the C side. The whole round runs inside one
// `loop.execute { }` on the loop thread, so every call takes its on-the-loop path.
import Gale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@inline(never)
func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

struct RoundResult: Sendable {
    var scheduleNs: Double
    var cancelNs: Double
    var totalNs: Double
}

/// One round, on the loop thread. Nonisolated (not inferred @MainActor from top-level code).
nonisolated func runRound(_ loop: EventLoop, _ n: Int) -> RoundResult {
    var handles: [Scheduled] = []
    handles.reserveCapacity(n)
    let t0 = nowNs()
    for i in 0..<n {
        // The same delays as the C side: 10 s + (i * 7919 mod 1,000,003) us.
        let delay = Duration.seconds(10) + .microseconds(i &* 7919 % 1_000_003)
        handles.append(loop.schedule(after: delay) { fatalError("timers-bench: a timer fired") })
    }
    let t1 = nowNs()
    for h in handles { h.cancel() }
    handles.removeAll() // the last references go: deallocation counts as part of cancelling
    let t2 = nowNs()
    let d = Double(n)
    return RoundResult(scheduleNs: Double(t1 - t0) / d, cancelNs: Double(t2 - t1) / d, totalNs: Double(t2 - t0) / d)
}

/// A round's result, handed from the loop thread to the main thread (the semaphore orders it).
final class Done: @unchecked Sendable {
    let sem = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    var result = RoundResult(scheduleNs: 0, cancelNs: 0, totalNs: 0)
    init() { sem_init(sem, 0, 0) }
}

let args = CommandLine.arguments
let n = args.count > 1 ? Int(args[1]) ?? 0 : 1_000_000
let rounds = args.count > 2 ? Int(args[2]) ?? 0 : 1
guard n > 0, rounds > 0 else {
    print("usage: timers-bench [N] [ROUNDS]")
    exit(2)
}

let loop = try EventLoop(name: "timers-bench")
// Wait for each round with a POSIX semaphore, not `await`: no Swift concurrency runtime threads
// (libdispatch's workers crash valgrind 3.19, and the benchmark needs none).
let done = Done()
for r in 1...rounds {
    loop.execute { [done] in
        done.result = runRound(loop, n)
        sem_post(done.sem)
    }
    while sem_wait(done.sem) != 0 {}
    let res = done.result
    print("result round=\(r) n=\(n) schedule_ns=\(fmt(res.scheduleNs)) cancel_ns=\(fmt(res.cancelNs)) total_ns=\(fmt(res.totalNs))")
}
loop.shutdown()

func fmt(_ v: Double) -> String {
    let t = (v * 10).rounded() / 10
    return "\(t)"
}
