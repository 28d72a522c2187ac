/** Every event schema's check compiled ahead of time, by `type@v` (and "envelope"). */
export declare const compiledChecks: Readonly<Record<string, (value: unknown) => boolean>>;
