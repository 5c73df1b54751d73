import Gale
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on an ephemeral loopback port.
func listeningSocket(_ ip: String = "127.0.0.1", backlog: Int = 8) throws -> (Socket, SocketAddress) {
    let s = try Socket(family: ip.contains(":") ? .inet6 : .inet, type: .stream)
    try s.setOption(.reuseAddress, true)
    try s.bind(host: ip, port: 0)
    try s.listen(backlog: backlog)
    return (s, try s.localAddress)
}

/// Client and accepted server ends of one loopback connection (no threads: the connect
/// completes in the listener's backlog).
func connectedPair(_ ip: String = "127.0.0.1") throws -> (client: Socket, server: Socket) {
    let (l, address) = try listeningSocket(ip)
    let c = try Socket(family: address.family, type: .stream)
    try c.connect(address)
    let (s, peer) = try l.accept()
    #expect(peer == (try c.localAddress))
    l.close()
    return (c, s)
}

func isKind(_ kind: GaleError.Kind) -> @Sendable (any Error) -> Bool {
    { ($0 as? GaleError)?.kind == kind }
}

/// True if body throws an error of `kind`, false if it returns; other errors propagate.
func fails(with kind: GaleError.Kind, _ body: () throws -> Void) throws -> Bool {
    do {
        try body()
        return false
    } catch let error as GaleError where error.kind == kind {
        return true
    }
}

@Suite("Socket", .timeLimit(.minutes(1)))
struct SocketTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func blockingEchoWithShutdown(ip: String) throws {
        let (c, s) = try connectedPair(ip)
        #expect(try c.remoteAddress == (try s.localAddress))
        #expect(try c.timeout == nil)
        #expect(try c.isBlocking)
        try s.sendAll(Array("recvfrom on a stream".utf8))
        let (greeting, from, _) = try c.recvFrom(100)
        #expect(text(greeting) == "recvfrom on a stream")
        #expect(from.family == .unspecified) // Python's (data, None)
        try c.sendAll(Array("Hello, world".utf8))
        try c.shutdown(.write) // shutdown(1): done sending, still receiving
        #expect(throws: GaleError.self) { try c.send([1]) }
        var got: [UInt8] = []
        while case let chunk = try s.recv(1024), !chunk.isEmpty { got += chunk }
        #expect(text(got) == "Hello, world")
        #expect(try s.send(got) == got.count)
        #expect(text(try c.recv(1024)) == "Hello, world")
        s.close()
        #expect(try c.recv(1024).isEmpty)
        c.close()
        #expect(c.fileDescriptor == -1)
        #expect(throws: GaleError.self) { _ = try c.recv(1) }
        c.close() // idempotent
    }

    @Test func nonBlockingCallsReportWouldBlock() throws {
        let (l, address) = try listeningSocket()
        try l.setBlocking(false)
        #expect(try l.timeout == .zero)
        #expect(try !l.isBlocking)
        #expect(performing: { _ = try l.accept() }, throws: isKind(.wouldBlock))

        let c = try Socket()
        try c.setBlocking(false)
        _ = try fails(with: .wouldBlock) { try c.connect(address) } // EINPROGRESS, or done at once
        let ready = try Socket.select(read: [], write: [c], timeout: .seconds(5))
        #expect(ready.write.count == 1)
        #expect(try c.option(.error) == 0)
        _ = try Socket.select(read: [l], timeout: .seconds(5))
        let (s, _) = try l.accept()
        #expect(performing: { _ = try c.recv(10) }, throws: isKind(.wouldBlock))

        // The tutorial's non-blocking client: a huge send returns a partial count at once,
        // and once the buffers are full the next send would block.
        try c.setOption(.sendBufferSize, 16384)
        let big = [UInt8](repeating: 65, count: 64 << 20)
        let first = try c.send(big)
        #expect(first > 0 && first < big.count)
        var blocked = false
        for _ in 0..<100_000 where !blocked {
            blocked = try fails(with: .wouldBlock) { _ = try c.send(big) }
        }
        #expect(blocked)
        #expect(performing: { try c.sendAll(big) }, throws: isKind(.wouldBlock))
        c.close()
        s.close()
        l.close()
    }

    @Test func timeoutsThrowLikeSocketTimeout() throws {
        let (l, address) = try listeningSocket(backlog: 0)
        try l.setTimeout(.milliseconds(100))
        #expect(try l.timeout == .milliseconds(100))
        #expect(performing: { _ = try l.accept() }, throws: isKind(.timeout))
        // A full backlog leaves further connects hanging; with a timeout they give up.
        var clients: [Socket] = []
        var timedOut = false
        while !timedOut && clients.count < 16 {
            let c = try Socket()
            try c.setTimeout(.milliseconds(100))
            clients.append(c)
            timedOut = try fails(with: .timeout) { try c.connect(address) }
        }
        #expect(timedOut)
        let (s, _) = try l.accept()
        #expect(try s.timeout == nil) // accepted sockets start blocking, as in Python
        try s.setTimeout(.milliseconds(100))
        #expect(performing: { _ = try s.recv(10) }, throws: isKind(.timeout))
        try s.setTimeout(nil)
        #expect(try s.timeout == nil)
        l.close()
        s.close()
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func datagramsWithSendToAndRecvFrom(ip: String) throws {
        let server = try Socket(family: ip.contains(":") ? .inet6 : .inet, type: .datagram)
        try server.bind(host: ip, port: 0)
        let client = try Socket(family: server.family, type: .datagram)
        #expect(try client.sendTo(Array("Welcome to JavaTpoint".utf8), server.localAddress) == 21)
        let (bytes, from, truncated) = try server.recvFrom(1024)
        #expect(text(bytes) == "Welcome to JavaTpoint")
        #expect(from.port == (try client.localAddress).port)
        #expect(!truncated)
        try client.sendTo(Array("0123456789".utf8), server.localAddress)
        let cut = try server.recvFrom(4)
        #expect(cut.bytes == Array("0123".utf8))
        #expect(cut.truncated)
        // Connected UDP: send/recv without addresses.
        try client.connect(server.localAddress)
        try client.send(Array("hi".utf8))
        #expect(text(try server.recv(10)) == "hi")
        try server.setTimeout(.milliseconds(50))
        #expect(performing: { _ = try server.recvFrom(10) }, throws: isKind(.timeout))
        if ip == "127.0.0.1" { // by name: resolved now, to an address of the socket's family
            let other = try Socket(family: .inet, type: .datagram)
            try other.sendTo([1], host: "localhost", port: (try server.localAddress).port!)
            #expect(try server.recvFrom(10).bytes == [1])
            other.close()
        }
        server.close()
        client.close()
    }

    @Test func connectedUDPGetsConnectionRefused() throws {
        let c = try Socket(family: .inet, type: .datagram)
        try c.connect(try closedUDPPort())
        try c.send([1])
        try c.setTimeout(.seconds(2))
        #expect { _ = try c.recv(4) } throws: { ($0 as? GaleError)?.errno == ECONNREFUSED }
        c.close()
    }

    @Test func everyOptionSetsAndReadsBack() throws {
        let t = try Socket(family: .inet6, type: .stream)
        for option in [Socket.Option.reuseAddress, .reusePort, .keepAlive, .noDelay, .ipv6Only] {
            try t.setOption(option, true)
            #expect(try t.option(option) == 1, "\(option)")
            try t.setOption(option, false)
            #expect(try t.option(option) == 0, "\(option)")
        }
        #expect(try t.option(.type) == Int(SocketType.stream.rawValue))
        let u = try Socket(family: .inet, type: .datagram)
        try u.setOption(.broadcast, true)
        #expect(try u.option(.broadcast) == 1)
        try u.setOption(.receiveBufferSize, 65536)
        #expect(try u.option(.receiveBufferSize) >= 65536)
        try u.setOption(.sendBufferSize, 32768)
        #expect(try u.option(.sendBufferSize) >= 32768)
        #expect(throws: GaleError.self) { try u.setOption(.noDelay, true) } // not TCP
        #expect(performing: { try u.setOption(.type, 1) }, throws: isKind(.invalidArgument))
        try u.setOption(level: Int32(IPPROTO_IP), name: Int32(IP_TTL), 9)
        #expect(try u.option(level: Int32(IPPROTO_IP), name: Int32(IP_TTL)) == 9)
        t.close()
        u.close()
    }

    @Test func selectReportsWhichSocketsAreReady() throws {
        let sockets = try (0..<3).map { _ in try plainUDPSocket() }
        let none = try Socket.select(read: sockets, timeout: .zero)
        #expect(none.read.isEmpty && none.write.isEmpty && none.except.isEmpty)
        #expect(try Socket.select(read: sockets, timeout: .milliseconds(50)).read.isEmpty)
        try sockets[0].sendTo(Array("ping".utf8), sockets[1].localAddress)
        let ready = try Socket.select(read: sockets, write: [sockets[2]])
        #expect(ready.read.count == 1 && ready.read[0] === sockets[1])
        #expect(ready.write.count == 1 && ready.write[0] === sockets[2])
        for s in sockets { s.close() }
    }

    @Test func unixDomainSockets() throws {
        let path = "/tmp/gale-swift-sock-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let l = try Socket(family: .unix, type: .stream)
        try l.bind(SocketAddress(unixPath: path))
        try l.listen()
        let c = try Socket(family: .unix, type: .stream)
        try c.connect(SocketAddress(unixPath: path))
        let (s, peer) = try l.accept()
        #expect(peer.family == .unix)
        try c.sendAll(Array("over a path".utf8))
        #expect(text(try s.recv(100)) == "over a path")
        #expect(try s.localAddress.description == path)
        for x in [c, s, l] { x.close() }
    }

    @Test func errorsCarryErrno() throws {
        let (l, address) = try listeningSocket()
        let other = try Socket()
        #expect { try other.bind(address) } throws: { ($0 as? GaleError)?.errno == EADDRINUSE }
        l.close()
        #expect { try other.connect(address) } throws: { ($0 as? GaleError)?.errno == ECONNREFUSED }
        other.close()
        #expect { try Socket(family: .unspecified, type: .stream) } throws: { ($0 as? GaleError)?.errno == EAFNOSUPPORT }
    }

    @Test func connectByHostName() throws {
        let (l, address) = try listeningSocket()
        let c = try Socket()
        try c.connect(host: "localhost", port: address.port!)
        let (s, _) = try l.accept()
        #expect(try c.remoteAddress == address)
        for x in [c, s, l] { x.close() }
    }

    @Test func addressesParseAndFormatLikeInetPtonAndNtop() throws {
        #expect(try SocketAddress.inetPton(.inet, "127.0.0.1") == [127, 0, 0, 1])
        #expect(try SocketAddress.inetPton(.inet6, "::1") == [UInt8](repeating: 0, count: 15) + [1])
        #expect(try SocketAddress.inetNtop(.inet, [192, 168, 0, 1]) == "192.168.0.1")
        #expect(try SocketAddress.inetNtop(.inet6, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == "2001:db8::1")
        #expect(performing: { _ = try SocketAddress.inetPton(.inet, "::1") }, throws: isKind(.invalidArgument))
        #expect(performing: { _ = try SocketAddress.inetNtop(.inet, [1, 2, 3]) }, throws: isKind(.invalidArgument))
        let a = try SocketAddress(ipBytes: [10, 0, 0, 7], port: 80)
        #expect(a.description == "10.0.0.7:80")
        #expect(a.ipBytes == [10, 0, 0, 7])
        let b = try SocketAddress(ip: "fe80::1%1", port: 443)
        #expect(b.scopeID == 1)
        #expect(b.flowInfo == 0)
        #expect(b.family == .inet6)
        #expect(SocketAddress.Family(rawValue: AF_INET6) == .inet6)
        #expect(try SocketAddress(unixPath: "/tmp/x").ipBytes == nil)
    }

    @Test func aConnectionMovesFromSocketToStreamAndBack() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let (c, s) = try connectedPair()
        let stream = try await TCPStream.adopting(c, loop: loop)
        #expect(c.fileDescriptor == -1)
        // One segment: the read that finds the line also buffers what follows it.
        try s.sendAll(Array("to the loop\nunread".utf8))
        #expect(text(try await stream.read(until: "\n")) == "to the loop\n")
        try await stream.write("from the loop")
        #expect(text(try s.recv(100)) == "from the loop")
        let (back, unread) = try await stream.detach()
        #expect(text(unread) == "unread") // read by the stream, not consumed: handed back
        try back.setTimeout(.zero)
        #expect(performing: { _ = try back.recv(100) }, throws: isKind(.wouldBlock)) // nothing left behind
        try back.setTimeout(.seconds(5))
        try back.sendAll(Array("blocking again".utf8))
        #expect(text(try s.recv(100)) == "blocking again")
        await #expect { _ = try await stream.read(upTo: 1) } throws: { ($0 as? GaleError)?.kind == .closed }
        back.close()
        s.close()
    }
}
