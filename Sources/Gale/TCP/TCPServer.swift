import CGale
import Logging

/// A TCP (or Unix socket) server that hands each connection to an async handler, like
/// Tornado's `TCPServer.handle_stream`.
///
/// Each connection runs in its own task on the server's loop (`Task(executorPreference:)`),
/// so the handler's code runs on the loop thread, and a handler that awaits does not hold
/// up the others. When the handler returns, the stream is closed (after what it queued is sent).
///
/// ```swift
/// let server = TCPServer(loop: loop) { stream, peer in
///     for try await chunk in stream { try await stream.write(chunk) }   // echo
/// }
/// let address = try await server.listen(host: "127.0.0.1", port: 65432)
/// ```
public final class TCPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (TCPStream, SocketAddress) async throws -> Void

    public let loop: EventLoop
    let handler: Handler
    let logger: Logger

    // Loop-thread state.
    private var listeners: [OpaquePointer] = []
    private var connections: [ObjectIdentifier: (stream: TCPStream, task: Task<Void, Never>?)] = [:]
    private var running = 0
    private var stopped = false
    private var idleWaiters: [UnsafeContinuation<Void, Never>] = []

    public init(loop: EventLoop, logger: Logger = Logger(label: "gale.tcp"), handler: @escaping Handler) {
        self.loop = loop
        self.handler = handler
        self.logger = logger
    }

    /// Listen on host:port and start accepting. `host` nil or "" means every address
    /// (dual-stack); port 0 picks a free port. Returns the bound address. May be called more
    /// than once to listen on several addresses.
    @discardableResult
    public func listen(host: String? = "127.0.0.1", port: Int = 0, backlog: Int? = nil,
                       reusePort: Bool = false) async throws -> SocketAddress {
        try await loop.submit { [self] in
            let flags: UInt32 = reusePort ? UInt32(GALE_LISTEN_REUSEPORT) : 0
            return try open("listen on \(host ?? "*"):\(port)") { cb, ud, free, out in
                gale_listener_open(loop.raw, host, Int32(clamping: port), Int32(clamping: backlog ?? -1),
                                   flags, cb, ud, free, out)
            }
        }
    }

    /// Listen on a Unix domain socket path (an old socket file there is replaced).
    @discardableResult
    public func listen(unixPath: String, backlog: Int? = nil) async throws -> SocketAddress {
        try await loop.submit { [self] in
            try open("listen on \(unixPath)") { cb, ud, free, out in
                gale_listener_open_unix(loop.raw, unixPath, Int32(clamping: backlog ?? -1),
                                        UInt32(GALE_LISTEN_UNLINK), cb, ud, free, out)
            }
        }
    }

    /// Accept on an already listening socket (systemd socket activation, an inherited fd).
    @discardableResult
    public func listen(adoptingListeningSocket fd: Int32) async throws -> SocketAddress {
        try await loop.submit { [self] in
            try open("listen on fd \(fd)") { cb, ud, free, out in
                gale_listener_open_fd(loop.raw, fd, cb, ud, free, out)
            }
        }
    }

    private func open(_ what: String,
                      _ body: (gale_accept_cb, UnsafeMutableRawPointer, gale_free_fn,
                               UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> SocketAddress {
        if stopped { throw GaleError(kind: .closed, operation: what, message: "the server has been stopped") }
        var l: OpaquePointer?
        let me = Unmanaged.passRetained(self).toOpaque()
        let r = body(acceptTrampoline, me, releaseServer, &l)
        if r < 0 {
            Unmanaged<TCPServer>.fromOpaque(me).release()
            throw GaleError(code: r, operation: what)
        }
        gale_listener_set_error_cb(l!, acceptErrorTrampoline)
        listeners.append(l!)
        var a = gale_addr()
        _ = gale_listener_addr(l!, 0, &a)
        return SocketAddress(raw: a)
    }

    /// The addresses being listened on.
    public var addresses: [SocketAddress] {
        get async {
            (try? await loop.submit { [self] in
                listeners.flatMap { l in
                    (0..<gale_listener_count(l)).map { i in
                        var a = gale_addr()
                        _ = gale_listener_addr(l, i, &a)
                        return SocketAddress(raw: a)
                    }
                }
            }) ?? []
        }
    }

    /// Connections whose handler is still running.
    public var activeConnections: Int {
        get async { (try? await loop.submit { [self] in running }) ?? 0 }
    }

    /// Stop accepting, let the running handlers finish for up to `gracePeriod`, then abort
    /// the connections still open (their reads and writes throw), cancel their tasks, and wait
    /// for the handlers to return.
    public func stop(gracePeriod: Duration = .seconds(10)) async {
        await withUnsafeContinuation { (cont: UnsafeContinuation<Void, Never>) in
            loop.runOnLoop { [self] in
                stopped = true
                for l in listeners { gale_listener_close(l) }
                listeners = []
                if running == 0 { return cont.resume() }
                idleWaiters.append(cont)
                loop.schedule(after: gracePeriod) { [self] in
                    for c in connections.values {
                        c.stream.abort()
                        c.task?.cancel()
                    }
                }
            }
        }
    }

    // MARK: loop-thread callbacks

    fileprivate func accepted(fd: Int32, peer: SocketAddress) {
        let stream: TCPStream
        do {
            stream = try TCPStream.adopt(fd: fd, loop: loop)
        } catch {
            logger.warning("dropping connection from \(peer): \(error)")
            return
        }
        if stopped {
            stream.abort()
            return
        }
        let id = ObjectIdentifier(stream)
        connections[id] = (stream, nil)
        running += 1
        connections[id]?.task = Task(executorPreference: loop) { [self] in
            do {
                try await handler(stream, peer)
            } catch {
                logger.debug("connection from \(peer) ended: \(error)")
            }
            stream.close()
            finished(id)
        }
    }

    private func finished(_ id: ObjectIdentifier) {
        loop.runOnLoop { [self] in
            connections[id] = nil
            running -= 1
            if running == 0 && stopped {
                let ws = idleWaiters
                idleWaiters = []
                for w in ws { w.resume() }
            }
        }
    }

    fileprivate func acceptFailed(_ code: Int32) {
        logger.warning("accept failed: \(GaleError(code: code, operation: "accept")); backing off")
    }
}

private let acceptTrampoline: gale_accept_cb = { _, fd, peer, ud in
    let server = Unmanaged<TCPServer>.fromOpaque(ud!).takeUnretainedValue()
    server.accepted(fd: fd, peer: SocketAddress(raw: peer.pointee))
}

private let acceptErrorTrampoline: gale_listener_error_cb = { _, code, ud in
    Unmanaged<TCPServer>.fromOpaque(ud!).takeUnretainedValue().acceptFailed(code)
}

private let releaseServer: gale_free_fn = { ud in
    Unmanaged<TCPServer>.fromOpaque(ud!).release()
}
