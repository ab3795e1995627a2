using System.CommandLine;
using Sdtt.Server;
using Sdtt.Serving;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt serve --model DIR [--host 127.0.0.1] [--port 8080] [--max-batch 16] [--max-queue 64] [--steps 16]
/// [--model-id NAME] [--device cpu]</c>: the OpenAI-compatible HTTP server (see <see cref="SdttServer"/>).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder: a DiT (sdtt train / distill, released checkpoints) or a GPT (sdtt train --model-type ar)", Required = true };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port (0 = any free port)", DefaultValueFactory = _ => 8080 };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most requests sampled together in one batch", DefaultValueFactory = _ => 16 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Most requests waiting; beyond it requests get 429", DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "Diffusion steps when a request names none (request field \"steps\")", DefaultValueFactory = _ => 16 };
        var modelId = new Option<string?>("--model-id") { Description = "Model name clients use (default: the folder's name)" };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto", DefaultValueFactory = _ => "cpu" };
        var cmd = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics)")
            { model, host, port, maxBatch, maxQueue, steps, modelId, device };
        cmd.SetGuardedAction(parse =>
        {
            var options = new ServerOptions
            {
                ModelDir = parse.GetValue(model)!,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ConsoleLog = true,
                Engine = new CompletionEngineOptions
                {
                    MaxBatch = parse.GetValue(maxBatch),
                    MaxQueue = parse.GetValue(maxQueue),
                    DefaultSteps = parse.GetValue(steps),
                    ModelId = parse.GetValue(modelId),
                    Device = parse.GetValue(device)!,
                },
            }.Validate();
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
            var server = SdttServer.StartAsync(options, stop.Token).GetAwaiter().GetResult();
            try
            {
                Console.Error.WriteLine($"serving '{server.Engine.ModelId}' ({server.Engine.Kind.ToString().ToLowerInvariant()}, context {server.Engine.ContextLength}) on {server.BaseAddress} " +
                    $"(max batch {options.Engine.MaxBatch}, max queue {options.Engine.MaxQueue}); Ctrl+C stops");
                try { Task.Delay(Timeout.Infinite, stop.Token).GetAwaiter().GetResult(); }
                catch (OperationCanceledException) { }
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            Console.Error.WriteLine("stopped");
            return 0;
        });
        return cmd;
    }
}
