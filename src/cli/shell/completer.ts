/**
 * Tab completion: command names for the first word, then, by the command's argument kinds,
 * remote paths (listed through the local API), local paths, or command names. A pure function
 * of the line and the listing functions it is given, so it is tested without a network.
 */
import type { AsyncCompleter } from 'node:readline';
import type { ArgKind } from './context.js';
import { lexLine, quoteWord } from './line-parser.js';

/** One entry a listing offers. */
export interface Candidate {
  name: string;
  dir: boolean;
}

/** Where completions come from. */
export interface CompletionSources {
  /** Every word that selects a command. */
  commands: readonly string[];
  /** What argument `index` (flags not counted) of `command` is, if anything completable. */
  argKind(command: string, index: number): ArgKind | undefined;
  /** The entries of a remote directory as typed (`''` is the working directory). */
  listRemote(dir: string): Promise<Candidate[]>;
  /** The entries of a local directory as typed (`''` is the current directory). */
  listLocal(dir: string): Promise<Candidate[]>;
}

/** readline's answer: the candidate texts, and the part of the line they replace. */
export type Completion = [string[], string];

function completeCommand(word: string, raw: string, commands: readonly string[]): Completion {
  const hits = commands.filter((c) => c.startsWith(word));
  // A single match gets its space, so the next Tab goes on to the arguments.
  return [hits.length === 1 ? [`${hits[0]} `] : hits, raw];
}

/** Completes the last word of `line`. Never throws: no candidates on any failure. */
export async function complete(line: string, sources: CompletionSources): Promise<Completion> {
  const lexed = lexLine(line);
  const words = [...lexed.words];
  const current =
    lexed.endsInBlank || words.length === 0 ? { value: '', start: line.length } : words.pop()!;
  const raw = line.slice(current.start);
  if (lexed.danglingEscape) return [[], raw];
  const [command, ...before] = words;
  if (command === undefined) return completeCommand(current.value, raw, sources.commands);
  if (current.value.startsWith('-')) return [[], raw];
  const index = before.filter((w) => !w.value.startsWith('-')).length;
  const kind = sources.argKind(command.value, index);
  if (kind === undefined) return [[], raw];
  if (kind === 'command') return completeCommand(current.value, raw, sources.commands);

  const slash = current.value.lastIndexOf('/');
  const dir = current.value.slice(0, slash + 1);
  const base = current.value.slice(slash + 1);
  let listing: Candidate[];
  try {
    listing = await (kind === 'remote' ? sources.listRemote(dir) : sources.listLocal(dir));
  } catch {
    return [[], raw];
  }
  const hits = listing
    .filter((c) => c.name.startsWith(base) && (base.startsWith('.') || !c.name.startsWith('.')))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const opened = raw.startsWith('"') || raw.startsWith("'") ? (raw[0] as '"' | "'") : undefined;
  const texts = hits
    .map((c) => {
      const text = quoteWord(`${dir}${c.name}${c.dir ? '/' : ''}`, opened);
      // A single file is finished: close the quote and move on to the next word.
      return hits.length === 1 && !c.dir ? `${text}${opened ?? ''} ` : text;
    })
    // Candidates must extend what was typed, or readline would garble the line.
    .filter((t) => t.startsWith(raw));
  return [texts, raw];
}

/** Adapts {@link complete} to node:readline's callback form. */
export function readlineCompleter(
  completeLine: (line: string) => Promise<Completion>,
): AsyncCompleter {
  return (line, callback) => {
    completeLine(line).then(
      (result) => callback(null, result),
      () => callback(null, [[], line]),
    );
  };
}
