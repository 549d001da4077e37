import type { Lint } from '../lint.js';

/** First minor release of each major with the fixes for CVE-2023-2455, CVE-2023-39418 and CVE-2024-10976. */
const FIXED: Record<number, number> = { 15: 9, 16: 5, 17: 1 };

export const serverVersion: Lint = {
  id: 'server-version',
  severity: 'warn',
  title: 'Server version below the fixes for known row-level security CVEs',
  run: (catalog) => {
    const major = Math.floor(catalog.serverVersionNum / 10_000);
    const minor = catalog.serverVersionNum % 100;
    const needed = FIXED[major];
    if (major >= 18 || (needed !== undefined && minor >= needed)) return [];
    const target = needed === undefined ? '15.9 or newer' : `${major}.${needed} or newer`;
    return [
      {
        id: 'server-version',
        severity: 'warn',
        object: `server ${major}.${minor}`,
        message: `This version has known row-level security bugs (CVE-2023-2455 cached plans with role-specific policies, CVE-2023-39418 MERGE ignoring policies, CVE-2024-10976 policies under subqueries after SET ROLE). Upgrade to ${target}.`,
      },
    ];
  },
};
