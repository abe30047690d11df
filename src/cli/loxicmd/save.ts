// `loxicmd save` and `loxicmd apply`, with loxicmd's flags: save writes
// lbconfig.txt / EPconfig.txt / BFDconfig.txt into -c (default /etc/loxilb/),
// keeping the previous file as <name>.bk; apply reads them (or kind/spec
// files with -f) and checks every record before it sends the first.
import fs from 'node:fs';
import path from 'node:path';
import { LoxiApiError } from '../../apiclient/LoxiApiClient.ts';
import { isPlainObject, pickFields } from '../../util/caseInsensitive.ts';
import { BFD_FILE, ConfigFileError, EP_FILE, LB_FILE, bfdConfigText, epConfigText, lbConfigText, readConfigFile, type ConfigRecords } from './saveFormat.ts';
import { UsageError, expectArgs, type CommandContext, type CommandSpec } from './command.ts';

export const DEFAULT_CONFIG_DIR = '/etc/loxilb/';
/** A saved config bigger than this is not one loxicmd wrote. */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

function listOf(body: unknown, key: string): unknown[] {
  const v = isPlainObject(body) ? pickFields(body, [key])[key] : undefined;
  return Array.isArray(v) ? v : [];
}

/** Replaces `file` atomically, keeping the old one as `file.bk` as loxicmd does. */
function writeWithBackup(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  if (fs.existsSync(file)) fs.copyFileSync(file, `${file}.bk`);
  fs.renameSync(tmp, file);
}

export const save: CommandSpec = {
  verb: 'save',
  names: [''],
  flags: { all: 'boolean', lb: 'boolean', endpoint: 'boolean', bfd: 'boolean', 'config-path': 'string' },
  short: { a: 'all', l: 'lb', c: 'config-path' },
  usage: `save -a|--all | -l|--lb | --endpoint | --bfd [-c|--config-path <dir, default ${DEFAULT_CONFIG_DIR}>]`,
  prepare(args, f) {
    expectArgs('save', args, []);
    const all = f.bool('all');
    const parts = { lb: all || f.bool('lb'), ep: all || f.bool('endpoint'), bfd: all || f.bool('bfd') };
    if (!parts.lb && !parts.ep && !parts.bfd) throw new UsageError('save: say what to save: -a/--all, -l/--lb, --endpoint or --bfd');
    const dir = f.str('config-path') ?? DEFAULT_CONFIG_DIR;
    if (dir === '') throw new UsageError('--config-path needs a directory');
    return async (ctx: CommandContext) => {
      // Everything is read before anything is written, so a failed read leaves the files as they were.
      const texts: [string, string, string][] = [];
      if (parts.lb) texts.push(['LB', LB_FILE, lbConfigText(listOf(await ctx.client.listLbRules(), 'lbAttr'))]);
      if (parts.ep) {
        try {
          texts.push(['EndPoint', EP_FILE, epConfigText(listOf(await ctx.client.listEndpoints(), 'Attr'))]);
        } catch (err) {
          // An agent without endpoint probes: with --all that part is skipped, and said so.
          if (!(all && err instanceof LoxiApiError && err.status === 404)) throw err;
          ctx.io.err(`Note: EndPoint configuration not saved: the agent does not serve config/endpoint/all (${err.message})\n`);
        }
      }
      if (parts.bfd) texts.push(['BFD', BFD_FILE, bfdConfigText(listOf(await ctx.client.listBfdSessions(), 'Attr'))]);
      try {
        fs.mkdirSync(dir, { recursive: true });
        for (const [what, name, text] of texts) {
          const file = path.join(dir, name);
          writeWithBackup(file, text);
          ctx.io.out(`${what} Configuration saved in ${file}\n`);
        }
      } catch (err) {
        ctx.io.err(`Error: cannot write the configuration in ${dir}: ${err instanceof Error ? err.message : String(err)}\n`);
        return 1;
      }
      return 0;
    };
  },
};

function readFileBounded(file: string, flag: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new ConfigFileError(`${flag} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!st.isFile()) throw new ConfigFileError(`${flag} ${file}: not a regular file`);
  if (st.size > MAX_CONFIG_FILE_BYTES) throw new ConfigFileError(`${flag} ${file}: ${st.size} bytes, more than the ${MAX_CONFIG_FILE_BYTES} a config file may have`);
  return fs.readFileSync(file, 'utf8');
}

export const apply: CommandSpec = {
  verb: 'apply',
  names: [''],
  flags: { file: 'repeat', lb: 'repeat', endpoint: 'repeat', bfd: 'repeat' },
  short: { f: 'file', l: 'lb' },
  usage: `apply -f|--file <file> | -l|--lb <${LB_FILE}> | --endpoint <${EP_FILE}> | --bfd <${BFD_FILE}>  (several allowed)`,
  prepare(args, f) {
    expectArgs('apply', args, []);
    const files: [string, string, keyof ConfigRecords | undefined][] = [
      ...f.all('file').map((x) => ['-f', x, undefined] as [string, string, undefined]),
      ...f.all('lb').map((x) => ['--lb', x, 'lb'] as [string, string, 'lb']),
      ...f.all('endpoint').map((x) => ['--endpoint', x, 'ep'] as [string, string, 'ep']),
      ...f.all('bfd').map((x) => ['--bfd', x, 'bfd'] as [string, string, 'bfd']),
    ];
    if (files.length === 0) throw new UsageError(`apply: give a file: -f <file>, -l/--lb <${LB_FILE}>, --endpoint <${EP_FILE}> or --bfd <${BFD_FILE}>`);
    return async (ctx) => {
      const records: ConfigRecords = { lb: [], ep: [], bfd: [] };
      try {
        for (const [flag, file, kind] of files) readConfigFile(file, readFileBounded(file, flag), records, kind);
      } catch (err) {
        if (!(err instanceof ConfigFileError)) throw err;
        ctx.io.err(`Error: ${err.message}\nNothing was applied.\n`);
        return 2;
      }
      // Rules first, then their endpoint probes, then BFD (its instance may come with the rules).
      const steps: [string, () => Promise<unknown>][] = [
        ...records.lb.map((r) => [`lb ${r.serviceArguments.externalIP} ${r.serviceArguments.protocol} ${r.serviceArguments.port}`, () => ctx.client.createLbRule(r)] as [string, () => Promise<unknown>]),
        ...records.ep.map((e) => [`endpoint ${e.hostName}`, () => ctx.client.createEndpoint(e)] as [string, () => Promise<unknown>]),
        ...records.bfd.map((b) => [`bfd ${b.remoteIp}`, () => ctx.client.setBfdSession(b)] as [string, () => Promise<unknown>]),
      ];
      for (let i = 0; i < steps.length; i++) {
        const [what, send] = steps[i]!;
        try {
          await send();
        } catch (err) {
          if (err instanceof Error) err.message = `${what}: ${err.message} (${i} of ${steps.length} records applied before it; the rest not sent)`;
          throw err;
        }
      }
      for (const [, file] of files) ctx.io.out(`Configuration applied - ${file}\n`);
      return 0;
    };
  },
};
