using System.CommandLine;
using Sdtt.Cli.Commands;

namespace Sdtt.Cli;

/// <summary>Every top-level command of the tool, one file each under Commands/.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return InfoCommand.Create();
        yield return TrainCommand.Create();
        yield return DistillCommand.Create();
        yield return PrepareCommand.Create();
        yield return DownloadCommand.Create();
        yield return BenchCommand.Create();
        yield return SampleCommand.Create();
        yield return PipelineCommand.Create();
        yield return EvalCommand.Create();
        yield return ServeCommand.Create();
    }
}
