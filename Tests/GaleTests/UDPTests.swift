import Gale
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking UDP socket bound on loopback, for sending to the socket under test.
func plainUDPSocket(_ ip: String = "127.0.0.1") throws -> Socket {
    let s = try Socket(family: ip.contains(":") ? .inet6 : .inet, type: .datagram)
    try s.bind(SocketAddress(ip: ip, port: 0))
    return s
}

/// A loopback UDP port nobody listens on.
func closedUDPPort() throws -> SocketAddress {
    let s = try plainUDPSocket()
    let a = try s.localAddress
    s.close()
    return a
}

/// Wait (bounded) until `condition` holds; the loop thread does the work meanwhile.
func eventually(_ condition: () async -> Bool) async throws {
    for _ in 0..<500 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Both ends of `socketpair(AF_UNIX, SOCK_DGRAM)`, blocking.
func datagramPair() throws -> (Socket, Socket) {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, SocketType.datagram.rawValue, 0, &fds) == 0 else {
        throw GaleError(kind: .system, operation: "socketpair", message: "failed", errno: errno)
    }
    return (try Socket(adopting: fds[0]), try Socket(adopting: fds[1]))
}

@Suite("UDP", .timeLimit(.minutes(1)))
struct UDPTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func datagramsBothWays(host: String) async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let server = try await UDPSocket.bind(host: host, port: 0, loop: loop)
        #expect(server.localAddress.port != 0)
        #expect(server.localAddress.host == host)
        let echo = Task {
            for try await d in server { try await server.send(d.bytes, to: d.sender) }
        }
        let client = try await UDPSocket.bind(host: host, port: 0, loop: loop)
        for message in ["Welcome to JavaTpoint", "", "ünïcödé"] {
            try await client.send(message, to: server.localAddress)
            let reply = try await client.receive()
            #expect(text(reply.bytes) == message)
            #expect(reply.sender == server.localAddress)
            #expect(!reply.truncated)
        }
        server.close()
        try await echo.value // the sequence ends when the socket closes
        client.close()
    }

    @Test func sendToAHostNameResolvesIt() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let receiver = try plainUDPSocket()
        try receiver.setTimeout(.seconds(5))
        let port = try receiver.localAddress.port!
        let sender = try await UDPSocket.bind(host: "127.0.0.1", loop: loop)
        try await sender.send(Array("by name".utf8), to: "localhost", port: port)
        let got = try receiver.recvFrom(100)
        #expect(text(got.bytes) == "by name")
        #expect(got.from == sender.localAddress)
        await #expect {
            try await sender.send([1], to: "no-such-host.invalid", port: port)
        } throws: { ($0 as? GaleError)?.kind == .resolver }
        sender.close()
    }

    @Test func oversizedDatagramIsReportedTruncated() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(loop: loop)
        try await socket.setReadSize(100)
        let sender = try plainUDPSocket()
        try sender.sendTo([UInt8](repeating: 7, count: 300), socket.localAddress)
        try sender.sendTo([UInt8](repeating: 8, count: 100), socket.localAddress)
        let first = try await socket.receive()
        #expect(first.truncated)
        #expect(first.bytes == [UInt8](repeating: 7, count: 100))
        let second = try await socket.receive()
        #expect(!second.truncated)
        #expect(second.bytes.count == 100)
        socket.close()
    }

    @Test func fullQueueDropsTheNewestAndCountsThem() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(queueCapacity: 4, loop: loop)
        let sender = try plainUDPSocket()
        for i in 0..<10 { try sender.sendTo(Array("\(i)".utf8), socket.localAddress) }
        try await eventually { socket.receivedDatagrams == 10 }
        #expect(socket.receivedDatagrams == 10)
        #expect(socket.droppedDatagrams == 6)
        #expect(await socket.queuedDatagrams == 4)
        // The oldest four were kept, in order; 4...9 were dropped on arrival.
        for i in 0..<4 { #expect(text(try await socket.receive().bytes) == "\(i)") }
        try sender.sendTo(Array("10".utf8), socket.localAddress)
        #expect(text(try await socket.receive().bytes) == "10")
        #expect(socket.droppedDatagrams == 6)
        socket.close()
    }

    @Test func aWaitingReaderGetsDatagramsWithoutQueueing() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(queueCapacity: 0, loop: loop) // nothing may wait
        let sender = try plainUDPSocket()
        let reader = Task { try await socket.receive() }
        // Until the reader is waiting, datagrams are dropped; after, the next one is its.
        var sent = 0
        while socket.droppedDatagrams == sent {
            try sender.sendTo(Array("direct".utf8), socket.localAddress)
            sent += 1
            try await eventually { socket.receivedDatagrams == sent }
            if socket.droppedDatagrams < sent { break }
        }
        #expect(text(try await reader.value.bytes) == "direct")
        #expect(socket.droppedDatagrams == sent - 1)
        #expect(await socket.queuedDatagrams == 0)
        socket.close()
    }

    @Test func portUnreachableOnAConnectedSocketIsThrownAndReceivingGoesOn() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(loop: loop)
        let nobody = try closedUDPPort()
        try await socket.connect(to: nobody)
        #expect(await socket.remoteAddress == nobody)
        try await socket.send(Array("anyone?".utf8))
        await #expect {
            _ = try await socket.receive()
        } throws: { error in
            guard let e = error as? GaleError else { return false }
            return e.errno == ECONNREFUSED && e.operation == "send to \(nobody)"
        }
        // The socket is still usable.
        let peer = try plainUDPSocket()
        try await socket.connect(to: peer.localAddress)
        try peer.sendTo(Array("still here".utf8), socket.localAddress)
        #expect(text(try await socket.receive().bytes) == "still here")
        socket.close()
    }

    @Test func unconnectedSocketsLearnOfUnreachablePeersOnlyWhenAsked() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(loop: loop)
        let nobody = try closedUDPPort()
        let peer = try plainUDPSocket()
        try await socket.send([1], to: nobody)
        try peer.sendTo(Array("after".utf8), socket.localAddress)
        #expect(text(try await socket.receive().bytes) == "after") // no error in between
        try await socket.setReportsErrorsForAllDestinations(true)
        try await socket.send([2], to: nobody)
        await #expect {
            _ = try await socket.receive()
        } throws: { ($0 as? GaleError)?.errno == ECONNREFUSED && ($0 as? GaleError)?.operation == "send to \(nobody)" }
        socket.close()
    }

    @Test func closingEndsTheSequenceAndFailsWaiters() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(loop: loop)
        let reader = Task { () -> Int in
            var n = 0
            for try await _ in socket { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(20))
        socket.close()
        #expect(try await reader.value == 0)
        await #expect { _ = try await socket.receive() } throws: { ($0 as? GaleError)?.kind == .closed }
        await #expect { try await socket.send([1], to: socket.localAddress) } throws: { ($0 as? GaleError)?.kind == .closed }
    }

    @Test func aCancelledReceiveThrowsCancellation() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(loop: loop)
        let t = Task { try await socket.receive() }
        try await Task.sleep(for: .milliseconds(20))
        t.cancel()
        await #expect(throws: CancellationError.self) { _ = try await t.value }
        // And the socket still receives afterwards.
        let sender = try plainUDPSocket()
        try sender.sendTo([42], socket.localAddress)
        #expect(try await socket.receive().bytes == [42])
        socket.close()
    }

    @Test func optionsApply() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try await UDPSocket.bind(host: "0.0.0.0", reuseAddress: true, loop: loop)
        try await socket.setBroadcast(true)
        try await socket.setReceiveBufferSize(256 * 1024)
        #expect(try await socket.receiveBufferSize >= 256 * 1024)
        try await socket.joinMulticast(group: "239.255.42.98", interface: "127.0.0.1")
        try await socket.setMulticast(loopback: true, ttl: 1, interface: "127.0.0.1")
        try await socket.send(Array("group".utf8), to: SocketAddress(ip: "239.255.42.98", port: socket.localAddress.port!))
        let d = try await socket.receive()
        #expect(text(d.bytes) == "group")
        try await socket.leaveMulticast(group: "239.255.42.98", interface: "127.0.0.1")
        await #expect { try await socket.joinMulticast(group: "nonsense") } throws: { ($0 as? GaleError)?.kind == .invalidArgument }
        socket.close()
    }

    @Test func aSocketMovesOntoTheLoopAndBack() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let plain = try plainUDPSocket()
        let address = try plain.localAddress
        let socket = try await UDPSocket.adopting(plain, loop: loop)
        #expect(plain.fileDescriptor == -1)
        #expect(socket.localAddress == address)
        let sender = try plainUDPSocket()
        try sender.sendTo(Array("one".utf8), address)
        #expect(text(try await socket.receive().bytes) == "one")
        try sender.sendTo(Array("two".utf8), address)
        try await eventually { await socket.queuedDatagrams == 1 }
        let (back, pending) = try await socket.detach()
        #expect(pending.map { text($0.bytes) } == ["two"])
        #expect(try back.isBlocking)
        try sender.sendTo(Array("three".utf8), address)
        try back.setTimeout(.seconds(5))
        #expect(text(try back.recvFrom(100).bytes) == "three")
        await #expect { _ = try await socket.receive() } throws: { ($0 as? GaleError)?.kind == .closed }
        back.close()
    }

    @Test func adoptingRefusesAStreamSocketAndLeavesItToTheCaller() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let (c, s) = try connectedPair()
        let fd = c.fileDescriptor
        await #expect {
            _ = try await UDPSocket.adopting(c, loop: loop)
        } throws: { ($0 as? GaleError)?.kind == .invalidArgument }
        #expect(c.fileDescriptor == fd) // not taken, still open and usable
        try c.sendAll(Array("still mine".utf8))
        #expect(text(try s.recv(100)) == "still mine")
        c.close()
        await #expect {
            _ = try await UDPSocket.adopting(c, loop: loop)
        } throws: { ($0 as? GaleError)?.kind == .closed }
        s.close()
    }

    /// Sends that find the socket buffer full wait (on the loop's thread: queued at once) until
    /// the peer reads; closing fails those still waiting.
    @Test(arguments: [true, false])
    func blockedSendsWaitForRoomAndCloseFailsThem(onLoop: Bool) async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let (mine, peer) = try datagramPair()
        try mine.setOption(.sendBufferSize, 1) // the minimum: a few datagrams fill it
        let socket = try await UDPSocket.adopting(mine, loop: loop)
        try peer.setTimeout(.seconds(5))
        let count = 64
        let datagram: @Sendable (Int) -> [UInt8] = { [UInt8(truncatingIfNeeded: $0)] + [UInt8](repeating: 0, count: 999) }

        /// `count` concurrent sends, from tasks on the loop or off it: each one's error kind
        /// (nil when sent), and how many were sent so far.
        func startSends(from first: Int) -> (sent: Box<Int>, task: Task<[GaleError.Kind?], Never>) {
            let sent = Box(0)
            let body: @Sendable () async -> [GaleError.Kind?] = {
                await withTaskGroup(of: GaleError.Kind?.self) { group in
                    for i in first..<first + count {
                        group.addTask {
                            do {
                                try await socket.send(datagram(i))
                                sent.mutate { $0 += 1 }
                                return nil
                            } catch {
                                return (error as? GaleError)?.kind ?? .system
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            return (sent, onLoop ? Task(executorPreference: loop, operation: body) : Task(operation: body))
        }
        /// Until the peer reads, sends stop completing: wait until they have.
        func waitUntilStalled(_ sent: Box<Int>) async throws {
            try await eventually { sent.value > 0 }
            var last = -1
            while sent.value != last {
                last = sent.value
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        let (sent, task) = startSends(from: 0)
        try await waitUntilStalled(sent)
        #expect(sent.value < count) // the rest are suspended, neither sent nor failed
        var got: [Int] = []
        while got.count < count {
            let d = try peer.recv(2000)
            #expect(d.count == 1000)
            got.append(Int(d[0]))
        }
        #expect(await task.value == Array(repeating: nil, count: count))
        #expect(sent.value == count)
        #expect(got.sorted() == Array(0..<count))

        let (sentBeforeClose, blocked) = startSends(from: count)
        try await waitUntilStalled(sentBeforeClose)
        let sentThen = sentBeforeClose.value
        #expect(sentThen < count)
        socket.close()
        let results = await blocked.value
        #expect(results.filter { $0 == nil }.count == sentThen)
        #expect(results.filter { $0 == .closed }.count == count - sentThen)
        peer.close()
    }
}
