import CGale
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libcore loop running on its own thread, and the executor for code that works with it.
///
/// Everything Gale does for a connection happens on the loop thread: C callbacks arrive there,
/// and `EventLoop` is both a `SerialExecutor` and a `TaskExecutor`, so a task started with
/// `Task(executorPreference: loop)` (which is how `TCPServer` runs handlers) runs its async code
/// on that thread without hops. Other threads reach the loop with ``execute(_:)``.
///
/// ```swift
/// let loop = try EventLoop()
/// loop.schedule(after: .milliseconds(100)) { print("later, on the loop") }
/// ```
public final class EventLoop: @unchecked Sendable {
    /// The C loop. Touched only on the loop thread, except `gale_loop_post`/`in_loop_thread`.
    let raw: OpaquePointer
    /// Swift jobs running right now on the loop thread (nested runs count each). Loop thread.
    @exclusivity(unchecked) var runningJobs = 0
    private let state = Mutex(State())
    public let name: String

    private struct State {
        var thread: pthread_t?
        var shutDown = false
        var freed = false
    }

    /// Create a loop and start its thread.
    public init(name: String = "gale-loop") throws(GaleError) {
        var loop: OpaquePointer?
        try check(gale_loop_new(&loop), "create event loop")
        self.raw = loop!
        self.name = name
        gale_loop_set_data(raw, Unmanaged.passUnretained(self).toOpaque(), nil)
        try startThread()
    }

    deinit {
        // The thread holds a reference while it runs and frees the C loop itself; this is
        // only for a loop whose thread never started.
        if !state.withLock({ $0.freed }) { gale_loop_free(raw) }
    }

    private func startThread() throws(GaleError) {
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let r = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            gale_loop_run(loop.raw)
            // Stopped by shutdown(): close what is still open here, on the loop thread, while
            // the loop object is alive for the callbacks that closing runs.
            gale_loop_free(loop.raw)
            loop.state.withLock { $0.freed = true }
            return nil
        }, box)
        if r != 0 {
            Unmanaged<EventLoop>.fromOpaque(box).release()
            throw GaleError(code: Int32(-r), operation: "start event loop thread")
        }
        state.withLock { $0.thread = tid }
    }

    /// A loop shared by code that does not bring its own (like Tornado's `IOLoop.current()`),
    /// created on first use and never shut down.
    public static var shared: EventLoop {
        get throws(GaleError) {
            try sharedLoop.withLock { (slot: inout EventLoop?) throws(GaleError) -> EventLoop in
                if let loop = slot { return loop }
                let loop = try EventLoop(name: "gale-shared")
                slot = loop
                return loop
            }
        }
    }

    /// The loop whose thread runs the caller, or nil off every loop thread (Tornado's
    /// `IOLoop.current()`): in a request handler or a connection handler, the loop serving it.
    public static var current: EventLoop? {
        guard let c = gale_loop_current(), let data = gale_loop_get_data(c) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue()
    }

    /// Let the C allocator keep up to `bytes` of freed memory for reuse rather than return it
    /// to the kernel at once (glibc's trim and mmap thresholds; nothing elsewhere). Servers
    /// that allocate and free large buffers per message otherwise pay page faults on each one:
    /// measured, it halves echo throughput. A process-wide choice for a program to make at
    /// start, before other threads run (`gale` and `hello-server` keep 64 MiB).
    public static func keepFreedMemory(upTo bytes: Int) {
        _ = gale_malloc_keep_freed(bytes)
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool { gale_loop_in_loop_thread(raw) != 0 }

    /// Run `work` on the loop thread, soon. Callable from any thread. On the loop thread it
    /// runs after the current callback, in the same turn of the loop.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(WorkBox(work)).toOpaque()
        if inEventLoop {
            if gale_loop_defer(raw, runWorkBox, box) == 0 { return }
        }
        if !post(runWorkBox, box, releaseWorkBox) { Unmanaged<WorkBox>.fromOpaque(box).release() }
    }

    /// Run `work` now if this is the loop thread, else on it soon.
    @inline(__always)
    func runOnLoop(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop { work() } else { execute(work) }
    }

    /// Run `body` on the loop and return its result.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if inEventLoop { return try body() }
        return try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<T, any Error>) in
            execute { cont.resume(with: Result { try body() }) }
        }
    }

    /// Run `body` as a task on this loop and block the calling thread until it returns, like
    /// asyncio's `run_until_complete`. Meant for a program's entry point: the program's async
    /// code then runs on the loop's thread, the way a Tornado program runs on its IOLoop, and
    /// libdispatch's main queue and global pool stay out of the picture.
    ///
    /// ```swift
    /// @main struct Server {
    ///     static func main() throws {
    ///         try EventLoop.shared.runUntilComplete {
    ///             try await app.listen(8888)
    ///             try await app.run()
    ///         }
    ///     }
    /// }
    /// ```
    public func runUntilComplete<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        precondition(!inEventLoop, "runUntilComplete would block its own loop")
        let waiter = BlockingResult<T>()
        Task(executorPreference: self) {
            waiter.set(await Result(catching: body))
        }
        return try waiter.wait().get()
    }

    /// Post to the C loop unless it has been shut down. False if the work was not queued.
    func post(_ fn: gale_loop_fn, _ ud: UnsafeMutableRawPointer?, _ free: gale_free_fn?) -> Bool {
        // The lock makes "not shut down" and "queued" one step: shutdown() waits for it.
        state.withLock { s in
            if s.shutDown { return false }
            return gale_loop_post(raw, fn, ud, free) == 0
        }
    }

    /// Stop the loop and wait for its thread to finish. Handles still open on it are closed.
    /// Call from another thread; work posted afterwards is dropped.
    public func shutdown() {
        precondition(!inEventLoop, "EventLoop.shutdown() called on its own thread")
        let tid: pthread_t? = state.withLock { s in
            if s.shutDown { return nil }
            gale_loop_post(raw, { ud in gale_loop_stop(OpaquePointer(ud!)) }, UnsafeMutableRawPointer(raw), nil)
            s.shutDown = true
            let t = s.thread
            s.thread = nil
            return t
        }
        if let tid { pthread_join(tid, nil) }
    }

    /// How many CPUs this process may run on (its affinity mask), for one loop per core.
    public static var availableCPUs: Int { Int(gale_available_cpus()) }

    /// The current monotonic time of the loop's clock.
    public var now: ContinuousClock.Instant { .now }
}

private let sharedLoop = Mutex<EventLoop?>(nil)

// MARK: - Executor

extension EventLoop: SerialExecutor, TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let ptr = unsafeBitCast(UnownedJob(job), to: UnsafeMutableRawPointer.self)
        if inEventLoop, gale_loop_defer(raw, runJob, ptr) == 0 { return }
        // A job cannot be destroyed without running it: if the loop is gone it is dropped.
        _ = post(runJob, ptr, nil)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

    public func checkIsolated() {
        precondition(inEventLoop, "expected to run on event loop \(name)")
    }

    public func isIsolatingCurrentContext() -> Bool? { inEventLoop }
}

/// The loop a C callback is running on (its thread's loop), as its Swift object.
@inline(__always)
func currentEventLoop() -> EventLoop {
    let data = gale_loop_get_data(gale_loop_current()!)!
    return Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue()
}

private let runJob: gale_loop_fn = { ptr in
    let loop = currentEventLoop()
    let job = unsafeBitCast(ptr, to: UnownedJob.self)
    loop.runningJobs += 1
    job.runSynchronously(isolatedTo: loop.asUnownedSerialExecutor(), taskExecutor: loop.asUnownedTaskExecutor())
    loop.runningJobs -= 1
}

/// One value handed from a task to a thread that blocks for it.
private final class BlockingResult<T: Sendable>: @unchecked Sendable {
    // On the heap: `&storedProperty` gives pthreads no stable address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Result<T, any Error>?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func set(_ v: Result<T, any Error>) {
        pthread_mutex_lock(mutex)
        value = v
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    func wait() -> Result<T, any Error> {
        pthread_mutex_lock(mutex)
        while value == nil { pthread_cond_wait(cond, mutex) }
        let v = value!
        pthread_mutex_unlock(mutex)
        return v
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

final class WorkBox {
    let work: @Sendable () -> Void
    init(_ work: @escaping @Sendable () -> Void) { self.work = work }
}

private let runWorkBox: gale_loop_fn = { ptr in
    Unmanaged<WorkBox>.fromOpaque(ptr!).takeRetainedValue().work()
}

private let releaseWorkBox: gale_free_fn = { ptr in
    Unmanaged<WorkBox>.fromOpaque(ptr!).release()
}
