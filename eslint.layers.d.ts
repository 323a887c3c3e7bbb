import type { Linter } from 'eslint';

/** The dependency-direction rules; see eslint.layers.js. */
export declare const layerRules: Linter.Config[];
