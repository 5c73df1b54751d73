import CGale

/// Outbound connections.
public enum TCPClient {
    /// Connect to host:port over TCP. `host` is a numeric address or a name (resolved without
    /// blocking the loop; each address is tried in turn). `timeout` bounds the whole attempt.
    /// Throws a `GaleError`: `.system` with `ECONNREFUSED`/`ENETUNREACH`/..., `.resolver` for
    /// a name that does not resolve, `.timeout`.
    public static func connect(host: String, port: Int, timeout: Duration? = nil,
                               loop: EventLoop? = nil) async throws -> TCPStream {
        let loop = try loop ?? EventLoop.shared
        return try await start(loop: loop, what: "connect to \(host):\(port)") { cb, ud, free, out in
            gale_connect_tcp(loop.raw, host, Int32(clamping: port), timeout?.nanoseconds ?? 0, cb, ud, free, out)
        }
    }

    /// Connect to an address (IPv4, IPv6 or a Unix socket path).
    public static func connect(to address: SocketAddress, timeout: Duration? = nil,
                               loop: EventLoop? = nil) async throws -> TCPStream {
        let loop = try loop ?? EventLoop.shared
        let raw = address.raw
        return try await start(loop: loop, what: "connect to \(address)") { cb, ud, free, out in
            withUnsafePointer(to: raw) { gale_connect_addr(loop.raw, $0, timeout?.nanoseconds ?? 0, cb, ud, free, out) }
        }
    }

    private static func start(
        loop: EventLoop, what: String,
        _ begin: @escaping @Sendable (gale_connect_cb, UnsafeMutableRawPointer, gale_free_fn,
                                      UnsafeMutablePointer<OpaquePointer?>) -> Int32
    ) async throws -> TCPStream {
        let attempt = ConnectAttempt(loop: loop, what: what)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<TCPStream, any Error>) in
                loop.runOnLoop { attempt.begin(cont, begin) }
            }
        } onCancel: {
            loop.runOnLoop { attempt.cancel() }
        }
    }
}

/// One connect in flight; loop thread only. The C request holds a reference until it ends.
private final class ConnectAttempt: @unchecked Sendable {
    let loop: EventLoop
    let what: String
    var cont: UnsafeContinuation<TCPStream, any Error>?
    var request: OpaquePointer?
    var cancelled = false

    init(loop: EventLoop, what: String) {
        self.loop = loop
        self.what = what
    }

    func begin(_ c: UnsafeContinuation<TCPStream, any Error>,
               _ start: (gale_connect_cb, UnsafeMutableRawPointer, gale_free_fn,
                         UnsafeMutablePointer<OpaquePointer?>) -> Int32) {
        if cancelled { return c.resume(throwing: CancellationError()) }
        cont = c
        let me = Unmanaged.passRetained(self).toOpaque()
        var req: OpaquePointer?
        let r = start(connectDone, me, releaseAttempt, &req)
        if r < 0 {
            Unmanaged<ConnectAttempt>.fromOpaque(me).release()
            cont = nil
            return c.resume(throwing: GaleError(code: r, operation: what))
        }
        request = req
    }

    func finish(_ stream: OpaquePointer?, _ err: Int32) {
        request = nil
        guard let c = cont else {
            if let stream { gale_stream_close(stream) }
            return
        }
        cont = nil
        if let stream {
            c.resume(returning: TCPStream(loop: loop, handle: stream))
        } else {
            c.resume(throwing: GaleError(code: err, operation: what))
        }
    }

    func cancel() {
        cancelled = true
        if let r = request {
            request = nil
            gale_connect_cancel(r) // releases our reference; the callback will not run
        }
        if let c = cont {
            cont = nil
            c.resume(throwing: CancellationError())
        }
    }
}

private let connectDone: gale_connect_cb = { _, stream, err, ud in
    Unmanaged<ConnectAttempt>.fromOpaque(ud!).takeUnretainedValue().finish(stream, err)
}

private let releaseAttempt: gale_free_fn = { ud in
    Unmanaged<ConnectAttempt>.fromOpaque(ud!).release()
}
