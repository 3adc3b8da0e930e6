import { open } from 'node:fs/promises';
import { ifMissing } from '../lib/if-missing.js';

/**
 * json-server's example data, written when `json-server db.json` named a
 * file that did not exist (its lib/cli/utils/load.js), with restauth's empty
 * users collection beside it.
 */
export const SAMPLE_DOCUMENT = {
  posts: [{ id: 1, title: 'json-server', author: 'typicode' }],
  comments: [{ id: 1, body: 'some comment', postId: 1 }],
  profile: { name: 'typicode' },
};

/**
 * Writes the sample to `dataFile` when neither it nor `credentialsFile`
 * exists (a folder restauth never ran in: a missing db.json beside a
 * credentials file is a mistake the start checks refuse, never a reason to
 * invent data). Created exclusively, so it never replaces a file that
 * appeared meanwhile. True when it wrote the file.
 */
export async function writeSampleIfNone(
  dataFile: string,
  credentialsFile: string,
  usersProp: string,
): Promise<boolean> {
  const credentials = await open(credentialsFile, 'r').catch(ifMissing(null));
  if (credentials !== null) {
    await credentials.close();
    return false;
  }
  const file = await open(dataFile, 'wx').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return null;
    throw error;
  });
  if (file === null) return false;
  try {
    await file.writeFile(`${JSON.stringify({ ...SAMPLE_DOCUMENT, [usersProp]: [] }, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  return true;
}
