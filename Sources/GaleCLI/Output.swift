import Gale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A line on stdout, written at once (no stdio buffering): the programs' output is read line
/// by line, by people and by tests, while they run.
func say(_ line: String) {
    writeAll(1, Array((line + "\n").utf8))
}

/// A line on stderr.
func writeError(_ line: String) {
    writeAll(2, Array((line.hasSuffix("\n") ? line : line + "\n").utf8))
}

/// Raw bytes to stdout.
func writeOut(_ bytes: [UInt8]) {
    writeAll(1, bytes)
}

/// Text to stderr as is (progress bars).
func writeErrorRaw(_ text: String) {
    writeAll(2, Array(text.utf8))
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buf in
        var off = 0
        while off < buf.count {
            let n = write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            off += n
        }
    }
}

/// "130MiB", "64KiB", "1GB", "1000": a byte count.
func parseByteCount(_ text: String) -> Int? {
    let units: [(String, Int)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
        ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
    ]
    let t = text.trimmingCharacters(in: " ")
    for (suffix, scale) in units where t.hasSuffix(suffix) {
        guard let n = Double(t.dropLast(suffix.count).trimmingCharacters(in: " ")), n >= 0 else { return nil }
        let v = n * Double(scale)
        return v <= Double(Int.max) ? Int(v) : nil
    }
    return Int(t).flatMap { $0 >= 0 ? $0 : nil }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}

/// "12.3 MiB".
func formatBytes(_ n: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = n, i = 0
    while v >= 1024 && i < units.count - 1 {
        v /= 1024
        i += 1
    }
    return i == 0 ? "\(Int(v)) B" : "\(format(v, 1)) \(units[i])"
}

/// A number with `decimals` digits after the point.
func format(_ v: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let have = s.distance(from: dot, to: s.endIndex) - 1
        if have < decimals { s += String(repeating: "0", count: decimals - have) }
    } else if decimals > 0 {
        s += "." + String(repeating: "0", count: decimals)
    }
    return s
}

/// Seconds since `start`, as a Double.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    let (s, atto) = d.components
    return Double(s) + Double(atto) / 1e18
}

/// The options every server and client takes.
import ArgumentParser

struct Endpoint: ParsableArguments {
    @Option(help: "The host to use: an IP address or a name.")
    var host = "127.0.0.1"
}

/// A --port value, for the commands' validate(): a usage error (exit 2) when out of range.
/// A server may listen on 0 (a free port); a client needs a real one.
func validatePort(_ port: Int, listening: Bool = true) throws {
    let low = listening ? 0 : 1
    guard (low...65535).contains(port) else { throw ValidationError("--port must be between \(low) and 65535") }
}

/// Run a server until SIGINT/SIGTERM, then stop it gracefully.
func serveUntilSignalled(_ server: TCPServer, loop: EventLoop, host: String, port: Int) async throws {
    let address = try await server.listen(host: host, port: port)
    writeError("listening on \(address) (Ctrl-C to stop)")
    let signal = try await loop.waitForSignal()
    writeError("signal \(signal): stopping")
    await server.stop(gracePeriod: .seconds(5))
}
