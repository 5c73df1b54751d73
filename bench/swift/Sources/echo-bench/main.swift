// echo-bench: `gale echo-server --quiet`'s server, for callgrind. The same TCPServer and the same
// handler as Sources/GaleCLI/TCPPrograms.swift (EchoServerCommand), without the command line
// around it: main never awaits (it starts the listener with loop.execute and sleeps), so no
// libdispatch worker thread starts, which valgrind 3.19 cannot run. The `gale` binary itself
// (top-level `await` -> libdispatch) crashes valgrind here.
//
//   echo-bench [PORT=24340]      127.0.0.1 only; SIGTERM/SIGINT end it (default action)
import Gale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A line on stderr (write(2): no shared FILE*).
nonisolated func say(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Nonisolated, so nothing here is inferred @MainActor from top-level code.
nonisolated func start(on loop: EventLoop, port: Int) {
    let server = TCPServer(loop: loop) { stream, _ in
        for try await chunk in stream {
            try await stream.write(chunk)
        }
    }
    loop.execute {
        Task(executorPreference: loop) {
            do {
                let address = try await server.listen(host: "127.0.0.1", port: port)
                say("echo-bench listening on \(address)")
            } catch {
                say("echo-bench: \(error)")
                exit(1)
            }
        }
    }
}

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? -1 : 24340
guard (0...65535).contains(port) else {
    say("usage: echo-bench [PORT]")
    exit(2)
}
let loop = try EventLoop(name: "echo-bench")
start(on: loop, port: port)
while true { pause() }
