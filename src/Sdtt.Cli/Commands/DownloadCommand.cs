using System.CommandLine;
using System.Diagnostics;
using Sdtt.Hub;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt download NAME [--loss L] [--size S] [--round R] [--revision REV] [--cache DIR] [--endpoint URL] [--force]</c>
/// and <c>sdtt download --list</c>: fetch a released checkpoint into the local cache and print its folder.</summary>
internal static class DownloadCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name")
        {
            Description = "student, teacher, teacher-1m, mdlm-owt, a jdeschena/sdtt revision (e.g. baselines_kld_step_70000), or OWNER/NAME[@REV]",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var loss = new Option<string?>("--loss") { Description = "student: distillation loss of the small baseline students (kld, mse, tvd; default kld)" };
        var size = new Option<string?>("--size") { Description = "student: scaling student size; teacher: teacher size (sm, md, large)" };
        var round = new Option<int?>("--round") { Description = "student: distillation round 1-7 (10k steps each; default 7)" };
        var revision = new Option<string?>("--revision") { Description = "Revision (branch, tag or commit) for OWNER/NAME (default main)" };
        var cache = new Option<string?>("--cache") { Description = "Cache folder (default $SDTT_CACHE or ~/.cache/sdtt/hub)" };
        var endpoint = new Option<string?>("--endpoint") { Description = "Hub URL (default $HF_ENDPOINT or https://huggingface.co); files come from {endpoint}/{repo}/resolve/{revision}/{file}" };
        var force = new Option<bool>("--force") { Description = "Download again even if cached" };
        var list = new Option<bool>("--list") { Description = "List the released checkpoints and exit" };
        var cmd = new Command("download", "Download a released checkpoint (config.json + model.safetensors) into the local cache and print its folder")
            { name, loss, size, round, revision, cache, endpoint, force, list };
        cmd.SetGuardedAction(parse =>
        {
            if (parse.GetValue(list))
            {
                foreach (var m in HubCatalog.All) Console.WriteLine($"{m.Repo}@{m.Revision}  {m.Description}");
                return 0;
            }
            var n = parse.GetValue(name) ?? throw new SdttException($"give a model name: {HubCatalog.Usage}");
            var model = HubCatalog.Resolve(n, parse.GetValue(revision), parse.GetValue(loss), parse.GetValue(size), parse.GetValue(round));
            var options = HubOptions.FromEnvironment(parse.GetValue(endpoint), parse.GetValue(cache), parse.GetValue(force));
            using var client = new HubClient(options);
            Console.Error.WriteLine($"download: {model} from {options.Endpoint} into {client.FolderOf(model)}");
            var result = Run(client, model);
            foreach (var f in result.Files)
            {
                var how = !f.Downloaded ? "cached" : f.ResumedFrom > 0 ? $"downloaded (resumed at {f.ResumedFrom / 1e6:0.0} MB)" : "downloaded";
                var check = f.Sha256 is null ? "size and format checked" : "SHA-256 verified";
                Console.Error.WriteLine($"  {f.Name}: {f.Bytes / 1e6:N1} MB, {how}{(f.Downloaded ? ", " + check : "")}");
            }
            Console.WriteLine(result.Folder);
            return 0;
        });
        return cmd;
    }

    private static HubDownloadResult Run(HubClient client, HubModel model)
    {
        if (!CliRunner.Interactive)
        {
            var last = Stopwatch.StartNew();
            return client.Fetch(model, new CallbackProgress<HubProgress>(p =>
            {
                if (last.Elapsed.TotalSeconds < 5) return;
                last.Restart();
                Console.Error.WriteLine($"download: {p.File} {Describe(p)}");
            }));
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        HubDownloadResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = client.Fetch(model, new CallbackProgress<HubProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.File, out var task)) tasks[p.File] = task = ctx.AddTask(p.File, maxValue: 1);
                    task.IsIndeterminate = p.BytesTotal is null;
                    task.MaxValue = Math.Max(1, p.BytesTotal ?? p.BytesDone);
                    task.Value = p.BytesDone;
                    task.Description = $"{p.File} {Describe(p)}";
                }));
            });
        return result!;
    }

    private static string Describe(HubProgress p)
    {
        var total = p.BytesTotal is { } t ? $"/{t / 1e6:N1}" : "";
        var eta = p.Eta is { } e ? $", ETA {Durations.Format(e)}" : "";
        return $"{p.BytesDone / 1e6:N1}{total} MB, {p.BytesPerSecond / 1e6:N1} MB/s{eta}";
    }

    private sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
