import Gale
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An echo server on an ephemeral loopback port.
func startEchoServer(loop: EventLoop, host: String = "127.0.0.1") async throws -> (TCPServer, SocketAddress) {
    let server = TCPServer(loop: loop) { stream, _ in
        for try await chunk in stream { try await stream.write(chunk) }
        stream.shutdownWrite()
    }
    let address = try await server.listen(host: host, port: 0)
    return (server, address)
}

func pattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 11)) }
}

@Suite("TCP", .timeLimit(.minutes(1)))
struct TCPTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func echoOneMebibyteWithHalfClose(host: String) async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let (server, address) = try await startEchoServer(loop: loop, host: host)
        #expect(address.port != nil && address.port != 0)
        #expect(address.host == host)

        let data = pattern(1 << 20)
        let stream = try await TCPClient.connect(host: host, port: address.port!, loop: loop)
        #expect(stream.remoteAddress == address)
        let echoed = try await withTaskExecutorPreference(loop) { () async throws -> [UInt8] in
            async let reply = stream.readToEnd()
            try await stream.write(data)
            stream.shutdownWrite() // the server sees EOF, stops echoing and shuts down too
            return try await reply
        }
        #expect(echoed.count == data.count)
        #expect(echoed == data)
        stream.close()
        await server.stop()
    }

    @Test func unixDomainSocket() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let path = "/tmp/gale-swift-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = TCPServer(loop: loop) { stream, _ in
            let line = try await stream.read(until: "\n")
            try await stream.write(line.reversed().dropFirst() + [10])
        }
        let address = try await server.listen(unixPath: path)
        #expect(address.family == .unix)
        #expect(address.description == path)
        let stream = try await TCPClient.connect(to: SocketAddress(unixPath: path), loop: loop)
        try await stream.write("gale\n")
        let reply = try await stream.read(until: "\n")
        #expect(String(decoding: reply, as: UTF8.self) == "elag\n")
        stream.close()
        await server.stop()
        #expect(access(path, F_OK) != 0)
    }

    @Test func writerIsHeldAtTheHighWaterMarkWhenThePeerDoesNotRead() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let written = Box(0)
        let maxQueued = Box(0)
        let server = TCPServer(loop: loop) { stream, _ in
            let chunk = [UInt8](repeating: 7, count: 16 * 1024)
            while true {
                try await stream.write(chunk)
                written.mutate { $0 += chunk.count }
                let q = try await stream.queuedBytes
                maxQueued.mutate { $0 = max($0, q) }
            }
        }
        let address = try await server.listen()
        // A client that connects and never reads.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(address.port!).bigEndian
        sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let r = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(r == 0)
        try await Task.sleep(for: .milliseconds(300))
        let stalled = written.value
        try await Task.sleep(for: .milliseconds(200))
        // The handler is parked in write(): nothing more is accepted, and what is queued in
        // user space stays under the high-water mark plus one write.
        #expect(written.value == stalled)
        #expect(maxQueued.value <= 256 * 1024 + 16 * 1024)
        #expect(stalled < 8 * 1024 * 1024)
        close(fd)
        await server.stop(gracePeriod: .milliseconds(100))
    }

    @Test func readUntilRespectsItsLimitAndExactlyReportsEndOfStream() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let server = TCPServer(loop: loop) { stream, _ in
            try await stream.write([UInt8](repeating: 65, count: 5000)) // no delimiter
            try await stream.write("\nshort")
        }
        let address = try await server.listen()
        let stream = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        await #expect {
            _ = try await stream.read(until: "\n", max: 1000)
        } throws: { ($0 as? GaleError)?.kind == .limitExceeded }
        let stream2 = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        let line = try await stream2.read(until: "\n", max: 10_000)
        #expect(line.count == 5001)
        await #expect {
            _ = try await stream2.read(exactly: 100)
        } throws: { ($0 as? GaleError)?.kind == .endOfStream }
        stream.close()
        stream2.close()
        await server.stop()
    }

    @Test func asyncSequenceOfChunksEndsAtEndOfStream() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let server = TCPServer(loop: loop) { stream, _ in
            for i in 0..<10 { try await stream.write("line \(i)\n") }
        }
        let address = try await server.listen()
        let stream = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        var all: [UInt8] = []
        for try await chunk in stream { all += chunk }
        #expect(String(decoding: all, as: UTF8.self) == (0..<10).map { "line \($0)\n" }.joined())
        await server.stop()
    }

    @Test func readTimeoutFailsThePendingRead() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let server = TCPServer(loop: loop) { stream, _ in
            try await loop.sleep(for: .seconds(5)) // say nothing
        }
        let address = try await server.listen()
        let stream = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        let start = ContinuousClock.now
        try await stream.setTimeouts(read: .milliseconds(50))
        await #expect {
            _ = try await stream.read(upTo: 10)
        } throws: { ($0 as? GaleError)?.kind == .timeout }
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        // The handler is asleep, not reading: stop cancels its task after the grace period.
        let stopStart = ContinuousClock.now
        await server.stop(gracePeriod: .milliseconds(10))
        #expect(ContinuousClock.now - stopStart < .seconds(2))
    }

    @Test func connectErrorsAreClear() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        // Refused: a port that was free a moment ago.
        let probe = TCPServer(loop: loop) { _, _ in }
        let port = try await probe.listen().port!
        await probe.stop()
        await #expect {
            _ = try await TCPClient.connect(host: "127.0.0.1", port: port, loop: loop)
        } throws: { ($0 as? GaleError)?.errno == ECONNREFUSED }
        // Unresolvable.
        await #expect {
            _ = try await TCPClient.connect(host: "no-such-host.invalid", port: 80, timeout: .seconds(5), loop: loop)
        } throws: { ($0 as? GaleError)?.kind == .resolver }
        // Timeout: a listener whose accept queue is full drops the SYN (loopback only).
        let lfd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(lfd, $0, len)
                _ = listen(lfd, 0)
                _ = getsockname(lfd, $0, &len)
            }
        }
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = connect(filler, $0, len) }
        }
        let start = ContinuousClock.now
        await #expect {
            _ = try await TCPClient.connect(host: "127.0.0.1", port: Int(UInt16(bigEndian: sin.sin_port)),
                                            timeout: .milliseconds(100), loop: loop)
        } throws: { ($0 as? GaleError)?.kind == .timeout }
        #expect(ContinuousClock.now - start >= .milliseconds(100))
        close(filler)
        close(lfd)
    }

    @Test func connectIsCancellable() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let lfd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(lfd, $0, len); _ = listen(lfd, 0); _ = getsockname(lfd, $0, &len)
            }
        }
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = connect(filler, $0, len) } }
        let port = Int(UInt16(bigEndian: sin.sin_port))
        let task = Task { try await TCPClient.connect(host: "127.0.0.1", port: port, loop: loop) }
        try await Task.sleep(for: .milliseconds(30))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        close(filler)
        close(lfd)
    }

    @Test func stopIsGracefulThenForcedAfterTheGracePeriod() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let finished = Box(0)
        let server = TCPServer(loop: loop) { stream, _ in
            defer { finished.mutate { $0 += 1 } }
            // Answers one line, then waits for more until the stream closes.
            let line = try await stream.read(until: "\n")
            try await stream.write(line)
            _ = try await stream.read(until: "\n")
        }
        let address = try await server.listen()
        let client = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        try await client.write("ping\n")
        #expect(try await client.read(until: "\n") == Array("ping\n".utf8))
        #expect(await server.activeConnections == 1)
        let start = ContinuousClock.now
        await server.stop(gracePeriod: .milliseconds(200))
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(finished.value == 1)
        #expect(await server.activeConnections == 0)
        // New connections are refused once stopped.
        await #expect(throws: GaleError.self) {
            _ = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
        }
        client.close()
    }

    @Test func listenErrorsAreClear() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let a = TCPServer(loop: loop) { _, _ in }
        let address = try await a.listen()
        let b = TCPServer(loop: loop) { _, _ in }
        await #expect {
            try await b.listen(port: address.port!)
        } throws: { ($0 as? GaleError)?.errno == EADDRINUSE }
        await #expect(throws: GaleError.self) { try await b.listen(host: "no-such-host.invalid", port: 0) }
        await a.stop()
    }

    @Test func adoptingRefusesWhatIsNotAConnectionAndLeavesItToTheCaller() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let datagram = try plainUDPSocket()
        let (listener, address) = try listeningSocket()
        for socket in [datagram, listener] {
            let fd = socket.fileDescriptor
            await #expect {
                _ = try await TCPStream.adopting(socket, loop: loop)
            } throws: { ($0 as? GaleError)?.kind == .invalidArgument }
            #expect(socket.fileDescriptor == fd) // not taken, still open
        }
        // Both still work as they were.
        let c = try Socket()
        try c.connect(address)
        let (s, _) = try listener.accept()
        let sender = try plainUDPSocket()
        try sender.sendTo([7], try datagram.localAddress)
        #expect(try datagram.recvFrom(1).bytes == [7])
        sender.close()
        let closed = try Socket()
        closed.close()
        await #expect {
            _ = try await TCPStream.adopting(closed, loop: loop)
        } throws: { ($0 as? GaleError)?.kind == .closed }
        // A connection is taken.
        let stream = try await TCPStream.adopting(s, loop: loop)
        #expect(s.fileDescriptor == -1)
        try c.sendAll(Array("adopted\n".utf8))
        #expect(text(try await stream.read(until: "\n")) == "adopted\n")
        stream.close()
        for x in [c, datagram, listener] { x.close() }
    }

    @Test func manyConcurrentClients() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let (server, address) = try await startEchoServer(loop: loop)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<50 {
                group.addTask {
                    let s = try await TCPClient.connect(host: "127.0.0.1", port: address.port!, loop: loop)
                    let msg = Array("client \(i)\n".utf8)
                    try await s.write(msg)
                    let back = try await s.read(exactly: msg.count)
                    s.close()
                    return back == msg
                }
            }
            for try await ok in group { #expect(ok) }
        }
        await server.stop()
    }
}
