import Gale
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A value the test can set from the loop thread and read afterwards.
final class Box<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    var value: T {
        get { m.withLock { $0 } }
        set { m.withLock { $0 = newValue } }
    }
    func mutate<R>(_ body: (inout T) -> R) -> R { m.withLock { body(&$0) } }
}

@Suite("EventLoop", .timeLimit(.minutes(1)))
struct EventLoopTests {
    @Test func executeRunsOnTheLoopThread() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        #expect(!loop.inEventLoop)
        let onLoop = try await loop.submit { loop.inEventLoop }
        #expect(onLoop)
        let order = Box<[Int]>([])
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            for i in 0..<100 { loop.execute { order.mutate { $0.append(i) } } }
            loop.execute { c.resume() }
        }
        #expect(order.value == Array(0..<100))
    }

    @Test func taskWithExecutorPreferenceRunsOnTheLoop() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let results = try await Task(executorPreference: loop) { () async throws -> [Bool] in
            var seen = [loop.inEventLoop]
            try await loop.sleep(for: .milliseconds(5))
            seen.append(loop.inEventLoop) // resumes on the loop, not the global pool
            await Task.yield()
            seen.append(loop.inEventLoop)
            return seen
        }.value
        #expect(results == [true, true, true])
    }

    @Test func oneShotTimersFireInOrderAndCancel() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let fired = Box<[Int]>([])
        let start = ContinuousClock.now
        let elapsed = Box<Duration>(.zero)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.schedule(after: .milliseconds(30)) { fired.mutate { $0.append(3) } }
            loop.schedule(after: .milliseconds(10)) { fired.mutate { $0.append(1) } }
            let cancelled = loop.schedule(after: .milliseconds(20)) { fired.mutate { $0.append(99) } }
            loop.schedule(after: .milliseconds(20)) { fired.mutate { $0.append(2) } }
            cancelled.cancel()
            loop.schedule(after: .milliseconds(50)) {
                elapsed.value = ContinuousClock.now - start
                done.resume()
            }
        }
        #expect(fired.value == [1, 2, 3])
        #expect(elapsed.value >= .milliseconds(50))
    }

    @Test func zeroAndNegativeDelaysFireAtOnce() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let fired = Box<[String]>([])
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.schedule(after: .milliseconds(-300)) { fired.mutate { $0.append("negative") } }
            loop.schedule(after: .nanoseconds(-1)) { fired.mutate { $0.append("minus one ns") } }
            loop.schedule(after: .zero) { fired.mutate { $0.append("zero") } }
            loop.schedule(after: .milliseconds(20)) { c.resume() }
        }
        #expect(Set(fired.value) == ["negative", "minus one ns", "zero"])
        try await loop.sleep(for: .seconds(-2)) // returns, does not trap
    }

    @Test func periodicTimerTicksUntilCancelledFromItsOwnCallback() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let ticks = Box(0)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let handle = Box<Scheduled?>(nil)
            handle.value = loop.every(.milliseconds(5)) {
                if ticks.mutate({ $0 += 1; return $0 }) == 4 {
                    handle.value?.cancel()
                    loop.schedule(after: .milliseconds(30)) { done.resume() }
                }
            }
        }
        #expect(ticks.value == 4) // no tick after the cancel
    }

    @Test func sleepIsCancellable() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let task = Task { try await loop.sleep(for: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(20))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func shutdownStopsTheThreadAndDropsLaterWork() async throws {
        let loop = try EventLoop()
        let ran = Box(false)
        loop.shutdown()
        loop.execute { ran.value = true }
        try await Task.sleep(for: .milliseconds(20))
        #expect(!ran.value)
    }
}
