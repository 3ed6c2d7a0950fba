import Foundation
import KTGateway

/// `kt dev mock-upstream`: an OpenAI-compatible mock provider on a real socket.
enum MockUpstreamCommand {
    static let run: Command.Run = { args, ctx in
        var b = MockUpstreamServer.Behavior()
        b.latencyMs = args.value("latency-ms").flatMap(Int.init) ?? 0
        b.status = args.value("status").flatMap(Int.init)
        b.failAfterChunks = args.value("fail-after-chunks").flatMap(Int.init)
        b.chunkDelayMs = args.value("chunk-delay-ms").flatMap(Int.init) ?? 0
        b.reply = args.value("reply")
        b.hang = args.flag("hang")
        b.reset = args.flag("reset")
        let host: String, port: Int
        do throws(UsageError) {
            (host, port) = try GatewayRunCommand.parseListen(args.value("listen") ?? "127.0.0.1:41099", command: "kt dev mock-upstream")
        } catch {
            ctx.err("error: \(error.message)")
            return 2
        }
        let server = MockUpstreamServer(behavior: b)
        SignalWaiter.survivesClosedPipes()
        do {
            let bound = try await server.start(host: host, port: port)
            // The first line on stdout is the bound address, so a parent using port 0 can read it.
            ctx.out("listening on \(host):\(bound)")
        } catch {
            ctx.err("error: \(error)")
            return 1
        }
        await SignalWaiter.wait(onReload: {})
        await server.shutdown()
        return 0
    }
}
