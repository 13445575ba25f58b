// The command line of a subcommand, read the same way by each: node:util parseArgs (strict), `-h/--help` prints
// the command's help (exit 0), a line it does not understand prints the reason and the help (exit 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed values and positionals, or the exit code when the command should stop here. */
export function parseCommand<O extends Options>(
  command: string,
  help: string,
  argv: string[],
  options: O,
): { values: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>['values']; positionals: string[] } | number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h', default: false } }, allowPositionals: true, strict: true });
  } catch (err) {
    return usageError(command, help, (err as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help);
    return 0;
  }
  return parsed as never;
}

/** A command line the command cannot use: the reason and the help on stderr, exit code 2. */
export function usageError(command: string, help: string, message: string): number {
  process.stderr.write(`meshwork ${command}: ${message}\n\n${help}`);
  return 2;
}
