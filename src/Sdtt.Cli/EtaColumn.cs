using Spectre.Console;
using Spectre.Console.Rendering;

namespace Sdtt.Cli;

/// <summary>Remaining time for progress bars, with days past 24 h ("3 d 04:05:06"); Spectre's own column prints
/// "**:**:**" for long runs, exactly when the figure matters.</summary>
internal sealed class EtaColumn : ProgressColumn
{
    protected override bool NoWrap => true;

    public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
        task.RemainingTime is { } t ? new Text(Durations.Format(t), new Style(Color.Blue)) : new Text("--:--:--", new Style(Color.Blue));
}
