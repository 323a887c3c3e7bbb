/**
 * `group`, shared by the shell and the one-shot command: lists the user's groups, or makes,
 * changes or deletes one. A group (`@team`) stands where a user stands in a grant
 * (`touch notes.txt @team r`); changing its members changes who may read and write everything
 * shared with it, at once.
 */
import { FsError } from '../interface/errors.js';
import { checkUserNames, groupNameOfWord, type LocalApi } from './local-api.js';
import { groupDeletedLine, groupLine, groupSavedLine } from './shell/format.js';

/** How `group` is typed. */
export const groupUsage =
  'group [create NAME [USER ...] | add NAME USER ... | remove NAME USER ... | delete [--force] NAME]';

/** What `help group` and `peervault group --help` explain. */
export const groupDetails = [
  'Without arguments, lists your groups and their members. A group, written @NAME in a grant,',
  'stands where a user stands: touch notes.txt @team r, share docs @team w, unshare docs @team.',
  'Adding a member shares with them, at once, everything shared with the group; removing one',
  'takes it back (each such entry gets a new version, wrapped to the members now). A user',
  'granted directly and through a group gets the stronger right. Only you see your groups.',
  'delete refuses while entries are shared with the group (it says how many); --force takes',
  'the group off them first. If a change is interrupted, run it again to finish it.',
].join('\n');

/** The result of one `group` command: its JSON, and its lines of text. */
export interface GroupOutcome {
  json: unknown;
  lines: string[];
}

/**
 * Runs `group WORDS...` against the local API.
 * @throws FsError `invalid` (with `usage`) for words that do not fit
 */
export async function runGroupVerb(
  api: LocalApi,
  words: readonly string[],
  options: { force?: boolean; usage?: string } = {},
): Promise<GroupOutcome> {
  const usage = options.usage ?? groupUsage;
  const [verb, rawName, ...users] = words;
  if (verb === undefined) {
    const groups = await api.groups();
    return { json: groups, lines: groups.map(groupLine) };
  }
  const bad = () => new FsError('invalid', `usage: ${usage}`, { op: 'group' });
  if (rawName === undefined) throw bad();
  const name = groupNameOfWord(rawName, usage);
  switch (verb) {
    case 'create':
    case 'add':
    case 'remove': {
      if (verb !== 'create' && users.length === 0) throw bad();
      checkUserNames(users, usage);
      const saved =
        verb === 'create'
          ? await api.createGroup(name, users)
          : verb === 'add'
            ? await api.addToGroup(name, users)
            : await api.removeFromGroup(name, users);
      return { json: saved, lines: [groupSavedLine(saved)] };
    }
    case 'delete': {
      if (users.length > 0) throw bad();
      const deleted = await api.deleteGroup(name, options.force === true);
      return { json: deleted, lines: [groupDeletedLine(deleted)] };
    }
    default:
      throw new FsError(
        'invalid',
        `unknown group command "${verb}": create, add, remove or delete (usage: ${usage})`,
        { op: 'group' },
      );
  }
}
