import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4, IPv6 or Unix domain socket address: a value, like Python's `(host, port)`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// Address families Gale speaks.
    public enum Family: Sendable, Hashable {
        case inet, inet6, unix, unspecified
    }

    var raw: gale_addr

    init(raw: gale_addr) { self.raw = raw }

    /// A numeric IPv4 or IPv6 address (`"127.0.0.1"`, `"::1"`, `"fe80::1%eth0"`) and a port.
    public init(ip: String, port: Int) throws(GaleError) {
        var a = gale_addr()
        let r = ip.withCString { gale_addr_from_ip($0, Int32(clamping: port), &a) }
        if r < 0 {
            throw GaleError(kind: .invalidArgument, operation: "address",
                            message: "\"\(ip)\" port \(port) is not a numeric IP address and port", errno: EINVAL)
        }
        raw = a
    }

    /// A Unix domain socket path.
    public init(unixPath: String) throws(GaleError) {
        var a = gale_addr()
        try check(unixPath.withCString { gale_addr_from_unix($0, &a) }, "address \(unixPath)")
        raw = a
    }

    public var family: Family {
        // The pointer is used inside the closure only: one that escapes it is dangling in an
        // optimized build (every family read as .unspecified).
        switch withUnsafePointer(to: raw, { gale_addr_family($0) }) {
        case AF_INET: return .inet
        case AF_INET6: return .inet6
        case AF_UNIX: return .unix
        default: return .unspecified
        }
    }

    /// The host part ("127.0.0.1", "::1") or the Unix path.
    public var host: String {
        var r = raw
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(GALE_ADDR_STRLEN)) { buf in
            gale_addr_host(&r, buf.baseAddress!, buf.count) < 0 ? "" : String(cString: buf.baseAddress!)
        }
    }

    /// The port, or nil for a Unix address.
    public var port: Int? {
        var r = raw
        let p = gale_addr_port(&r)
        return p < 0 ? nil : Int(p)
    }

    /// "127.0.0.1:80", "[::1]:80", or the Unix path.
    public var description: String {
        var r = raw
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(GALE_ADDR_STRLEN)) { buf in
            gale_addr_format(&r, buf.baseAddress!, buf.count) < 0 ? "?" : String(cString: buf.baseAddress!)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        var x = a.raw, y = b.raw
        return gale_addr_equal(&x, &y) != 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }
}

// MARK: - Families, raw IP bytes (inet_pton / inet_ntop)

extension SocketAddress.Family {
    /// The `AF_*` constant.
    public var rawValue: Int32 {
        switch self {
        case .inet: return AF_INET
        case .inet6: return AF_INET6
        case .unix: return AF_UNIX
        case .unspecified: return AF_UNSPEC
        }
    }

    /// The family of an `AF_*` constant (`.unspecified` for any other).
    public init(rawValue: Int32) {
        switch rawValue {
        case AF_INET: self = .inet
        case AF_INET6: self = .inet6
        case AF_UNIX: self = .unix
        default: self = .unspecified
        }
    }
}

extension SocketAddress {
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, and a port; `scopeID`
    /// is the IPv6 interface index for link-local addresses.
    public init(ipBytes: [UInt8], port: Int, scopeID: UInt32 = 0) throws(GaleError) {
        guard (0...65535).contains(port), ipBytes.count == 4 || ipBytes.count == 16 else {
            throw GaleError(kind: .invalidArgument, operation: "address",
                            message: "an IP address is 4 or 16 bytes and a port 0...65535", errno: EINVAL)
        }
        var a = gale_addr()
        withUnsafeMutableBytes(of: &a.storage) { st in
            if ipBytes.count == 4 {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = UInt16(port).bigEndian
                withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: ipBytes) }
                st.storeBytes(of: sin, as: sockaddr_in.self)
            } else {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = UInt16(port).bigEndian
                sin6.sin6_scope_id = scopeID
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: ipBytes) }
                st.storeBytes(of: sin6, as: sockaddr_in6.self)
            }
        }
        a.len = socklen_t(ipBytes.count == 4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        raw = a
    }

    /// The IP address in network order (4 or 16 bytes), nil for a Unix address.
    public var ipBytes: [UInt8]? {
        switch family {
        case .inet: return withSockaddr(sockaddr_in.self) { withUnsafeBytes(of: $0.sin_addr) { Array($0) } }
        case .inet6: return withSockaddr(sockaddr_in6.self) { withUnsafeBytes(of: $0.sin6_addr) { Array($0) } }
        default: return nil
        }
    }

    /// IPv6 flow information (the third item of Python's IPv6 address tuple); 0 otherwise.
    public var flowInfo: UInt32 {
        family == .inet6 ? withSockaddr(sockaddr_in6.self) { UInt32(bigEndian: $0.sin6_flowinfo) } : 0
    }

    /// IPv6 scope (interface index, the fourth item of Python's tuple); 0 otherwise.
    public var scopeID: UInt32 {
        family == .inet6 ? withSockaddr(sockaddr_in6.self) { $0.sin6_scope_id } : 0
    }

    private func withSockaddr<S, R>(_ type: S.Type, _ body: (S) -> R) -> R {
        withUnsafeBytes(of: raw.storage) { body($0.loadUnaligned(as: S.self)) }
    }

    /// `inet_pton`: the bytes of a numeric IPv4 or IPv6 address (4 or 16 of them).
    public static func inetPton(_ family: Family, _ text: String) throws(GaleError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 16)
        guard family == .inet || family == .inet6,
              buf.withUnsafeMutableBytes({ inet_pton(family.rawValue, text, $0.baseAddress) }) == 1 else {
            throw GaleError(kind: .invalidArgument, operation: "inet_pton",
                            message: "\"\(text)\" is not a numeric \(family == .inet6 ? "IPv6" : "IPv4") address",
                            errno: EINVAL)
        }
        return Array(buf.prefix(family == .inet ? 4 : 16))
    }

    /// `inet_ntop`: the text of a 4-byte IPv4 or 16-byte IPv6 address.
    public static func inetNtop(_ family: Family, _ bytes: [UInt8]) throws(GaleError) -> String {
        guard (family == .inet && bytes.count == 4) || (family == .inet6 && bytes.count == 16) else {
            throw GaleError(kind: .invalidArgument, operation: "inet_ntop",
                            message: "an \(family == .inet6 ? "IPv6" : "IPv4") address is \(family == .inet6 ? 16 : 4) bytes",
                            errno: EINVAL)
        }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = bytes.withUnsafeBytes { inet_ntop(family.rawValue, $0.baseAddress, &out, socklen_t(out.count)) }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
