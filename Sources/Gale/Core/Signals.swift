import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLoop {
    /// Wait until one of `signals` is delivered to the process and return it. While waiting,
    /// those signals do not take their default action (a Ctrl-C does not kill the process);
    /// afterwards the defaults are back. Only one loop in a process should watch signals.
    ///
    /// ```swift
    /// let signal = try await loop.waitForSignal()   // SIGINT or SIGTERM
    /// await server.stop()
    /// ```
    public func waitForSignal(_ signals: [Int32] = [SIGINT, SIGTERM]) async throws -> Int32 {
        let box = SignalBox()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<Int32, any Error>) in
                runOnLoop { box.begin(cont, loop: self, signals: signals) }
            }
        } onCancel: {
            runOnLoop { box.finish(.failure(CancellationError())) }
        }
    }
}

/// Loop-thread state of one waitForSignal call.
private final class SignalBox: @unchecked Sendable {
    var cont: UnsafeContinuation<Int32, any Error>?
    var watchers: [OpaquePointer] = []
    var done = false

    func begin(_ c: UnsafeContinuation<Int32, any Error>, loop: EventLoop, signals: [Int32]) {
        if done { return c.resume(throwing: CancellationError()) }
        cont = c
        for signum in signals {
            var w: OpaquePointer?
            let me = Unmanaged.passRetained(self).toOpaque()
            let r = gale_signal_start(loop.raw, signum, signalDelivered, me, releaseSignalBox, &w)
            if r < 0 {
                Unmanaged<SignalBox>.fromOpaque(me).release()
                finish(.failure(GaleError(code: r, operation: "watch signal \(signum)")))
                return
            }
            watchers.append(w!)
        }
    }

    func finish(_ result: Result<Int32, any Error>) {
        done = true
        let ws = watchers
        watchers = []
        for w in ws { gale_signal_stop(w) }
        if let c = cont {
            cont = nil
            c.resume(with: result)
        }
    }
}

private let signalDelivered: gale_signal_cb = { _, signum, ud in
    Unmanaged<SignalBox>.fromOpaque(ud!).takeUnretainedValue().finish(.success(signum))
}

private let releaseSignalBox: gale_free_fn = { ud in
    Unmanaged<SignalBox>.fromOpaque(ud!).release()
}
