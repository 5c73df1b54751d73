import Gale
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The first name of the first entry in /etc/hosts that is not localhost, with its address.
func hostsFileEntry() -> (name: String, ip: String)? {
    guard let f = fopen("/etc/hosts", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 1024)
    while fgets(&line, Int32(line.count), f) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fields = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) ?? []
        guard fields.count >= 2 else { continue }
        if let name = fields.dropFirst().first(where: { !$0.hasPrefix("localhost") && !$0.hasPrefix("ip6-") }) {
            return (String(name), String(fields[0]))
        }
    }
    return nil
}

func cString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

@Suite("Resolver", .timeLimit(.minutes(1)))
struct ResolverTests {
    /// The async lookup returns exactly what the system's getaddrinfo does (which is what
    /// Python's socket.getaddrinfo returns; the CLI tests compare with Python itself).
    @Test(arguments: [("localhost", "www"), ("localhost", "http"), ("127.0.0.1", "53"), ("::1", "80"),
                      ("localhost", nil), ("127.0.0.1", "domain")] as [(String, String?)])
    func matchesTheSystemResolver(host: String, service: String?) async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let got = try await Resolver.addressInfo(host, service, loop: loop)
        let system = try Resolver.addressInfoBlocking(host, service)
        #expect(!got.isEmpty)
        #expect(got == system)
    }

    @Test func localhostWwwIsPort80OverTCP() async throws {
        let got = try await Resolver.addressInfo("localhost", "www", type: .stream)
        #expect(got.contains { $0.family == .inet && $0.proto == 6 && $0.address.description == "127.0.0.1:80" })
        let numeric = try await Resolver.addressInfo("127.0.0.1", "53")
        #expect(Set(numeric.map(\.type)) == [.stream, .datagram, .raw]) // as Python lists it
        let v6 = try await Resolver.addressInfo("::1", "8080", type: .datagram)
        #expect(v6 == [AddressInfo(family: .inet6, type: .datagram, proto: 17, canonicalName: "",
                                   address: try SocketAddress(ip: "::1", port: 8080))])
        let canon = try await Resolver.addressInfo("localhost", nil, type: .stream, flags: .canonicalName)
        #expect(canon.first?.canonicalName.isEmpty == false)
    }

    @Test func namesFromTheHostsFileResolveOffline() async throws {
        guard let entry = hostsFileEntry() else { return }
        let got = try await Resolver.addressInfo(entry.name, nil, type: .stream)
        #expect(got.contains { $0.address.host == entry.ip })
        #expect(got == (try Resolver.addressInfoBlocking(entry.name, nil, type: .stream)))
    }

    @Test func anUnknownNameCarriesTheResolversMessage() async throws {
        do {
            _ = try await Resolver.addressInfo("no-such-host.invalid", "80")
            Issue.record("resolved a name that cannot exist")
        } catch let e as GaleError {
            #expect(e.kind == .resolver)
            #expect(e.resolverCode != 0)
            #expect(e.message == String(cString: gai_strerror(e.resolverCode)))
            #expect(e.operation == "getaddrinfo no-such-host.invalid 80")
        }
        await #expect { _ = try await Resolver.addressInfo("localhost", "no-such-service") } throws: {
            ($0 as? GaleError)?.resolverCode == EAI_SERVICE
        }
    }

    @Test func reverseLookupAndHostNames() async throws {
        let address = try SocketAddress(ip: "127.0.0.1", port: 80)
        let (host, service) = try await Resolver.nameInfo(address)
        var h = [CChar](repeating: 0, count: 1025), s = [CChar](repeating: 0, count: 32)
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = UInt16(80).bigEndian
        raw.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let r = withUnsafePointer(to: &raw) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &h, socklen_t(h.count), &s, socklen_t(s.count), 0)
            }
        }
        #expect(r == 0)
        #expect(host == cString(h))
        #expect(service == cString(s))
        let numeric = try await Resolver.nameInfo(try SocketAddress(ip: "::1", port: 8080), flags: [.numericHost, .numericService])
        #expect(numeric.host == "::1" && numeric.service == "8080")

        let byAddr = try await Resolver.hostByAddress("127.0.0.1")
        #expect(byAddr.name == host)
        #expect(byAddr.addresses == ["127.0.0.1"])
        #expect(try await Resolver.hostByName("localhost") == "127.0.0.1")

        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        #expect(try Resolver.hostName() == cString(name))
    }

    @Test func aCancelledLookupThrowsCancellation() async throws {
        let t = Task { try await Resolver.addressInfo("localhost", "www") }
        t.cancel()
        do {
            _ = try await t.value // either finished first or was cancelled: never hangs
        } catch {
            #expect(error is CancellationError)
        }
    }
}
