import CGale

/// A pending call made with ``EventLoop/schedule(after:_:)`` or ``EventLoop/every(_:startingAfter:_:)``,
/// like a Tornado `call_later` handle or a `PeriodicCallback`. Cancel it from any thread.
public final class Scheduled: @unchecked Sendable {
    public let loop: EventLoop
    let body: @Sendable () -> Void
    /// The C timer; loop thread only. nil before it starts and after it is done.
    var timer: OpaquePointer?
    var cancelled = false
    let periodic: Bool

    init(loop: EventLoop, periodic: Bool, body: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.periodic = periodic
        self.body = body
    }

    /// Stop it: a one-shot call that has not run yet never will; a periodic one stops ticking.
    /// Safe to call more than once, from any thread, and from inside its own call.
    public func cancel() {
        // On the loop (the common case) no closure is made: nothing to allocate.
        if loop.inEventLoop { cancelOnLoop() } else { loop.execute { [self] in cancelOnLoop() } }
    }

    private func cancelOnLoop() {
        cancelled = true
        if let t = timer {
            timer = nil
            gale_timer_free(t)
        }
    }

    /// Start on the loop thread: the C timer holds a reference to self until it is freed.
    func start(after: Duration, every: Duration?) {
        if cancelled { return }
        var t: OpaquePointer?
        let me = Unmanaged.passRetained(self).toOpaque()
        guard gale_timer_new(loop.raw, scheduledFired, me, releaseScheduled, &t) == 0, let t else {
            Unmanaged<Scheduled>.fromOpaque(me).release()
            return
        }
        timer = t
        gale_timer_start(t, after.nanoseconds, every?.nanoseconds ?? 0)
    }
}

private let scheduledFired: gale_timer_cb = { t, ud in
    let s = Unmanaged<Scheduled>.fromOpaque(ud!).takeUnretainedValue()
    if !s.periodic {
        // A one-shot timer is finished: free it (libcore defers that past this callback).
        s.timer = nil
        gale_timer_free(t)
    }
    s.body()
}

private let releaseScheduled: gale_free_fn = { ud in
    Unmanaged<Scheduled>.fromOpaque(ud!).release()
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 for negative durations.
    var nanoseconds: UInt64 {
        // The attoseconds are a 128-bit integer (high, low). `components` divides it in
        // software; below 2^64 ns (584 years) one 128-by-64-bit division does it.
        let high = _high, low = _low
        if high < 0 { return 0 }
        if UInt64(high) < 1_000_000_000 {
            return UInt64(1_000_000_000).dividingFullWidth((high: UInt64(high), low: low)).quotient
        }
        return .max
    }
}

extension EventLoop {
    /// Call `body` on the loop after `delay` (Tornado's `IOLoop.call_later`).
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> Scheduled {
        let s = Scheduled(loop: self, periodic: false, body: body)
        if inEventLoop { s.start(after: delay, every: nil) } else { execute { s.start(after: delay, every: nil) } }
        return s
    }

    /// Call `body` on the loop every `interval` (Tornado's `PeriodicCallback`), first after
    /// `startingAfter` (default: one interval). Ticks keep their cadence; missed ones are skipped.
    @discardableResult
    public func every(_ interval: Duration, startingAfter: Duration? = nil,
                      _ body: @escaping @Sendable () -> Void) -> Scheduled {
        precondition(interval > .zero, "EventLoop.every needs a positive interval")
        let s = Scheduled(loop: self, periodic: true, body: body)
        let first = startingAfter ?? interval
        if inEventLoop { s.start(after: first, every: interval) } else { execute { s.start(after: first, every: interval) } }
        return s
    }

    /// Suspend the calling task for `duration`, timed by the loop (resumes on the caller's
    /// executor). Throws `CancellationError` if the task is cancelled meanwhile.
    public func sleep(for duration: Duration) async throws {
        let box = SleepBox()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Void, any Error>) in
                runOnLoop { box.begin(cont, on: self, duration) }
            }
        } onCancel: {
            runOnLoop { box.cancel() }
        }
    }
}

/// One sleeping task. Every member is touched on the loop thread only, so a cancel and the
/// timer firing are ordered; the continuation is resumed exactly once.
private final class SleepBox: @unchecked Sendable {
    private var cont: UnsafeContinuation<Void, any Error>?
    private var scheduled: Scheduled?
    private var cancelled = false

    func begin(_ c: UnsafeContinuation<Void, any Error>, on loop: EventLoop, _ d: Duration) {
        if cancelled { return c.resume(throwing: CancellationError()) }
        cont = c
        scheduled = loop.schedule(after: d) { [self] in finish(nil) }
    }

    func cancel() {
        cancelled = true
        scheduled?.cancel()
        finish(CancellationError())
    }

    private func finish(_ error: (any Error)?) {
        guard let c = cont else { return }
        cont = nil
        scheduled = nil
        if let error { c.resume(throwing: error) } else { c.resume() }
    }
}
