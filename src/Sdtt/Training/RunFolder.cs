namespace Sdtt.Training;

/// <summary>What a run folder (<c>--out</c> of train/distill) holds, and how a fresh or resumed start treats it, so no
/// folder becomes a dead end: a run that was killed or rejected before its first checkpoint can be started again in place.</summary>
public enum RunFolderState
{
    /// <summary>Absent or empty: a fresh run starts there.</summary>
    Empty,
    /// <summary>Holds the run's config but no checkpoint (stopped before its first one): started afresh, fresh or --resume.</summary>
    Unstarted,
    /// <summary>Holds a checkpoint: resumed with --resume.</summary>
    Resumable,
    /// <summary>Not empty and not a run folder: refused.</summary>
    Foreign,
}

/// <summary>Classifies and prepares run folders (see <see cref="RunFolderState"/>).</summary>
public static class RunFolder
{
    /// <summary>Files and folders a run writes; an <see cref="RunFolderState.Unstarted"/> folder is cleared of these (and
    /// only these) before it starts afresh.</summary>
    public static IReadOnlyList<string> Artefacts { get; } = new[]
    {
        Trainer.MetricsFile, Trainer.MetricsFile + ".sdtt-tmp", Trainer.PlotFile, Trainer.CheckpointsDirName, Trainer.ModelDirName,
        Trainer.ModelDirName + IO.AtomicDirectory.TempSuffix, Trainer.ModelDirName + IO.AtomicDirectory.OldSuffix,
        "rounds", "distill.png", "rounds.png", "ar_model_config.json",
    };

    /// <summary>The state of <paramref name="dir"/>; <paramref name="configFile"/> is the resolved config the command writes
    /// first (train_config.json, distill_config.json).</summary>
    public static RunFolderState Inspect(string dir, string configFile)
    {
        if (File.Exists(dir)) throw new SdttException($"--out {dir}: is a file; give a folder");
        if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any()) return RunFolderState.Empty;
        if (File.Exists(Path.Combine(dir, Trainer.CheckpointsDirName, CheckpointStore.LastFile))) return RunFolderState.Resumable;
        return File.Exists(Path.Combine(dir, configFile)) ? RunFolderState.Unstarted : RunFolderState.Foreign;
    }

    /// <summary>Inspects <paramref name="dir"/> and throws the one-line refusal that <see cref="Prepare"/> would raise, without
    /// touching anything (so a job can check the folder first and write only after every other check).</summary>
    public static RunFolderState Check(string dir, string configFile, bool resume, string? resumeFrom, string command)
    {
        var state = Inspect(dir, configFile);
        if (state is RunFolderState.Foreign || (state is RunFolderState.Resumable && !resume) || (state is RunFolderState.Empty && resume)
            || (state is RunFolderState.Unstarted && resumeFrom is not null && resumeFrom.Trim() != "0"))
            Prepare(dir, configFile, resume, resumeFrom, command, _ => { }); // throws the matching one-line error
        return state;
    }

    /// <summary>Prepares <paramref name="dir"/> on rank 0 (<see cref="Prepare"/>) once every rank has checked it; the other
    /// ranks take the same decision from the <paramref name="state"/> they inspected. Returns whether the run resumes.</summary>
    public static bool PrepareOnRoot(Distributed.ICommunicator world, RunFolderState state, string dir, string configFile, bool resume,
        string? resumeFrom, string command, Action<string> note)
    {
        world.Barrier(); // every rank has checked the run folder before rank 0 writes into it
        bool resumes = Distributed.CommunicatorExtensions.IsRoot(world)
            ? Prepare(dir, configFile, resume, resumeFrom, command, note)
            : state is RunFolderState.Resumable;
        Directory.CreateDirectory(dir);
        return resumes;
    }

    /// <summary>Decides how a command starts in <paramref name="dir"/>: returns true to resume from a checkpoint, false to
    /// start at step 0 (after clearing an unstarted run's artefacts); throws a one-line error that says what to do otherwise.
    /// <paramref name="resumeFrom"/> is the --resume-from value, if any. <paramref name="note"/> reports what was decided.</summary>
    public static bool Prepare(string dir, string configFile, bool resume, string? resumeFrom, string command, Action<string> note)
    {
        var state = Inspect(dir, configFile);
        switch (state)
        {
            case RunFolderState.Empty when resume || resumeFrom is not null:
                throw new SdttException($"{dir}: --resume found no checkpoint (the folder is {(Directory.Exists(dir) ? "empty" : "absent")}); start a new run there without --resume");
            case RunFolderState.Empty:
                return false;
            case RunFolderState.Foreign:
                throw new SdttException(resume || resumeFrom is not null
                    ? $"{dir}: --resume found no checkpoint and no {configFile}: not a run folder; start a new run in an empty folder"
                    : $"{dir}: the run folder is not empty (and holds no {configFile}); pass --resume to continue it or choose an empty folder");
            case RunFolderState.Unstarted:
                if (resumeFrom is not null && resumeFrom.Trim() != "0")
                    throw new SdttException($"{dir}: holds no checkpoint to resume from (the run stopped before its first); use --resume to start it afresh");
                note(resume || resumeFrom is not null
                    ? $"{dir} holds a {command} run that stopped before its first checkpoint: starting it afresh from step 0 with its {configFile}"
                    : $"{dir} holds a {command} run that stopped before its first checkpoint: starting afresh there");
                Clear(dir);
                return false;
            default: // Resumable
                if (!resume && resumeFrom is null)
                    throw new SdttException($"{dir}: the run folder is not empty (it holds checkpoints); pass --resume to continue it, --resume-from 0 to restart it, or choose an empty folder");
                return true;
        }
    }

    /// <summary>Deletes the run artefacts of an unstarted run (never other files).</summary>
    public static void Clear(string dir)
    {
        foreach (var name in Artefacts)
        {
            var p = Path.Combine(dir, name);
            if (Directory.Exists(p)) Directory.Delete(p, true);
            else if (File.Exists(p)) File.Delete(p);
        }
    }
}
