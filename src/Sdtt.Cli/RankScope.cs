using System.Text;
using Sdtt.Distributed;

namespace Sdtt.Cli;

/// <summary>Runs a training command in its data-parallel group: a single process normally, one rank of an Open MPI job under
/// <c>mpirun</c>. Ranks other than 0 print nothing but their <c>error:</c> lines (prefixed with the rank); an error on any
/// rank ends the whole job (MPI_Abort), since the other ranks may be waiting for it in a collective.</summary>
internal static class RankScope
{
    public static int Run(Func<ICommunicator, int> body)
    {
        ICommunicator world;
        try { world = Communicator.FromEnvironment(); }
        catch (Exception e) { return CliRunner.Fail(e); }
        if (world.Rank != 0)
        {
            Console.SetOut(TextWriter.Null);
            Console.SetError(new ErrorLinesOnly(Console.Error, $"rank {world.Rank}: "));
        }
        int code;
        try { code = body(world); }
        catch (Exception e) { code = CliRunner.Fail(e); }
        if (code != 0 && world is MpiCommunicator mpi)
        {
            // Most errors (bad options, a refused resume) happen on every rank: let rank 0 print its line before the abort
            // kills it. A rank that fails alone still ends the job two seconds later.
            if (world.Rank != 0) Thread.Sleep(2000);
            mpi.Abort(code);
        }
        world.Dispose();
        return code;
    }

    /// <summary>Passes on only the lines that start with "error:".</summary>
    private sealed class ErrorLinesOnly(TextWriter inner, string prefix) : TextWriter
    {
        private readonly StringBuilder _line = new();
        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            if (value != '\n') { _line.Append(value); return; }
            var line = _line.ToString().TrimEnd('\r');
            _line.Clear();
            if (line.StartsWith("error:", StringComparison.Ordinal)) { inner.WriteLine(prefix + line); inner.Flush(); }
        }

        public override void Write(string? value)
        {
            foreach (var c in value ?? "") Write(c);
        }
    }
}
