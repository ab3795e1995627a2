using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.IO;

namespace Sdtt.Training;

/// <summary>The <c>checkpoints/</c> folder of a run: one folder per saved step (<c>step-0000300/</c>), written into
/// <c>step-0000300.tmp/</c> and renamed when complete, plus <c>last.json</c> (written by temp + rename) naming the newest
/// complete one. Older step folders beyond the newest k are deleted; the one <c>last</c> names is never deleted, nor the one
/// <c>healthy.json</c> names (the newest checkpoint whose weights the next step found healthy, see
/// <see cref="DivergenceDetector"/>).</summary>
public sealed class CheckpointStore
{
    /// <summary>Name of the pointer file.</summary>
    public const string LastFile = "last.json";
    /// <summary>Name of the pointer to the newest checkpoint confirmed healthy.</summary>
    public const string HealthyFile = "healthy.json";

    /// <summary>The checkpoints folder.</summary>
    public string Dir { get; }

    /// <summary>A store rooted at <paramref name="dir"/> (created on first save).</summary>
    public CheckpointStore(string dir) => Dir = dir;

    /// <summary>Folder name of a step.</summary>
    public static string StepName(long step) => $"step-{step:D7}";

    /// <summary>The folder <c>last</c> points to, or null when there is no complete checkpoint.</summary>
    public string? Last() => Pointer(LastFile);

    /// <summary>The newest checkpoint whose weights the following optimizer step found healthy, or null.</summary>
    public string? Healthy()
    {
        try { return Pointer(HealthyFile); }
        catch (SdttException) { return null; } // a stale pointer (its folder was discarded) means none
    }

    /// <summary>Records <paramref name="dir"/> (a step folder of this store) as the newest healthy checkpoint.</summary>
    public void MarkHealthy(string dir)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        if (!Directory.Exists(Path.Combine(Dir, name))) return;
        ModelFolder.WriteJsonAtomic(Path.Combine(Dir, HealthyFile), new JsonObject { ["dir"] = name, ["step"] = StepOf(name) });
    }

    /// <summary>The step folder of this store for a step number ("300"), or a checkpoint folder given by path (it must hold
    /// trainer.json). Errors list the steps available.</summary>
    public string Resolve(string stepOrPath)
    {
        if (long.TryParse(stepOrPath, out var step))
        {
            var hit = List().FirstOrDefault(c => c.Step == step);
            if (hit.Path is not null) return hit.Path;
            var have = List().Select(c => c.Step.ToString()).ToList();
            throw new SdttException($"{Dir}: no checkpoint of step {step} (available: {(have.Count > 0 ? string.Join(", ", have) : "none")}; 0 = start afresh)");
        }
        if (!Directory.Exists(stepOrPath)) throw new SdttException($"{stepOrPath}: checkpoint folder not found (give a step number or a checkpoint folder)");
        if (!File.Exists(Path.Combine(stepOrPath, "trainer.json"))) throw new SdttException($"{stepOrPath}: not a checkpoint folder (no trainer.json)");
        return Path.GetFullPath(stepOrPath);
    }

    /// <summary>Deletes the step folders after <paramref name="step"/> (a run continued from an earlier checkpoint
    /// abandons them) and repoints <c>last</c> and <c>healthy</c> at what remains. Returns the deleted folder names.</summary>
    public IReadOnlyList<string> DiscardAfter(long step)
    {
        var gone = new List<string>();
        foreach (var (s, path) in List().Where(c => c.Step > step))
        {
            Directory.Delete(path, true);
            gone.Add(System.IO.Path.GetFileName(path));
        }
        if (gone.Count == 0) return gone;
        var remaining = List();
        if (remaining.Count > 0)
            ModelFolder.WriteJsonAtomic(Path.Combine(Dir, LastFile), new JsonObject { ["dir"] = Path.GetFileName(remaining[^1].Path), ["step"] = remaining[^1].Step });
        else File.Delete(Path.Combine(Dir, LastFile));
        if (Healthy() is null) File.Delete(Path.Combine(Dir, HealthyFile));
        return gone;
    }

    /// <summary>Deletes every checkpoint (a run restarted from step 0).</summary>
    public void Clear()
    {
        if (Directory.Exists(Dir)) Directory.Delete(Dir, true);
    }

    private static long StepOf(string name) => long.TryParse(name.Replace("step-", ""), out var s) ? s : -1;

    private string? Pointer(string file)
    {
        var p = Path.Combine(Dir, file);
        if (!File.Exists(p)) return null;
        JsonNode? n;
        try { n = JsonNode.Parse(File.ReadAllText(p)); }
        catch (JsonException e) { throw new SdttException($"{p}: not valid JSON ({e.Message})"); }
        var name = n?["dir"]?.GetValue<string>() ?? throw new SdttException($"{p}: no \"dir\" field");
        var d = Path.Combine(Dir, name);
        if (!Directory.Exists(d)) throw new SdttException($"{p}: points to {name}, which does not exist");
        return d;
    }

    /// <summary>The complete step folders, oldest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        if (!Directory.Exists(Dir)) return Array.Empty<(long, string)>();
        return Directory.GetDirectories(Dir, "step-*")
            .Select(d => (Name: System.IO.Path.GetFileName(d), Path: d))
            .Where(x => !x.Name.EndsWith(".tmp") && !x.Name.EndsWith(".old") && long.TryParse(x.Name["step-".Length..], out _))
            .Select(x => (long.Parse(x.Name["step-".Length..]), x.Path))
            .OrderBy(x => x.Item1).ToList();
    }

    /// <summary>Writes a checkpoint: <paramref name="fill"/> writes the files into an empty temporary folder; then the folder
    /// is renamed, <c>last.json</c> replaced, and old folders beyond <paramref name="keep"/> removed. Returns the folder.</summary>
    public string Save(long step, Action<string> fill, int keep)
    {
        Directory.CreateDirectory(Dir);
        var name = StepName(step);
        var final = Path.Combine(Dir, name);
        var tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        fill(tmp);
        string? old = null;
        if (Directory.Exists(final))
        {
            old = final + ".old";
            if (Directory.Exists(old)) Directory.Delete(old, true);
            Directory.Move(final, old);
        }
        Directory.Move(tmp, final);
        ModelFolder.WriteJsonAtomic(Path.Combine(Dir, LastFile), new JsonObject { ["dir"] = name, ["step"] = step });
        if (old is not null) Directory.Delete(old, true);
        var healthy = Healthy();
        foreach (var (_, path) in List().SkipLast(keep))
            if (path != final && path != healthy) Directory.Delete(path, true);
        return final;
    }
}
