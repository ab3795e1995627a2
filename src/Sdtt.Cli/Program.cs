using System.CommandLine;
using Sdtt.Cli;
using Sdtt.Cli.Commands;

var root = new RootCommand("sdtt: masked diffusion language models (MDLM) and Self-Distillation Through Time (SDTT) on TorchSharp");
foreach (var command in CommandRegistry.All()) root.Subcommands.Add(command);
return CliRunner.Run(root, args);
