import CGale

/// Moving a connection between a blocking ``Socket`` and the event loop.
extension TCPStream {
    /// Put a connected stream ``Socket`` (TCP or Unix) on the loop as a `TCPStream`. The socket
    /// becomes non-blocking and belongs to the stream; `socket` is left without a descriptor.
    /// A datagram or listening socket is refused with `.invalidArgument` (a closed one with
    /// `.closed`) and stays the caller's.
    ///
    /// ```swift
    /// let s = try Socket(family: .inet, type: .stream)
    /// try s.connect(host: "127.0.0.1", port: 65432)      // blocking, like the tutorials
    /// let stream = try await TCPStream.adopting(s)       // from here on, async on the loop
    /// ```
    public static func adopting(_ socket: Socket, loop: EventLoop? = nil) async throws -> TCPStream {
        let loop = try loop ?? EventLoop.shared
        try socket.checkAdoptable(as: .stream)
        let fd = socket.detach()
        if fd < 0 { throw GaleError.closed("adopt socket") }
        return try await loop.submit { try TCPStream.adopt(fd: fd, loop: loop) }
    }

    /// Take the connection off the loop: a blocking ``Socket`` on the same connection, and the
    /// bytes the stream had read but not handed out yet (they come before anything `recv`
    /// returns). The stream is closed afterwards (its reads and writes throw `.closed`). Throws
    /// `.invalidArgument` while written bytes are still queued (wait until ``queuedBytes`` is 0).
    public func detach() async throws -> (socket: Socket, unread: [UInt8]) {
        let (fd, unread) = try await loop.submit { [core] in try core.detach() }
        let socket = try Socket(adopting: fd)
        try socket.setBlocking(true)
        return (socket, unread)
    }
}
