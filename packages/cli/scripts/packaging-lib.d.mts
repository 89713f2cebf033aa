// Types of packaging-lib.mjs, for the TypeScript tests in packages/lab/src/packaging.
export interface Target {
  readonly id: "linux-x64" | "linux-arm64" | "win-x64"
  readonly os: string
  readonly cpu: string
  readonly pin: string
  readonly output: string
  readonly deb: "amd64" | "arm64" | null
}
export interface Pin {
  readonly alias: string
  readonly name: string
  readonly version: string
  readonly integrity: string
  readonly os: string | undefined
  readonly cpu: string | undefined
}
export interface Host {
  readonly platform: string
  readonly arch: string
}
export interface Verify {
  readonly current: string | null
  readonly calculated: string | null
  readonly digestMatches: boolean
  readonly signer: string | null
  readonly signatureOk: boolean
}
export declare const targets: ReadonlyArray<Target>
export declare const pinsFromLock: (lock: unknown) => Map<string, Pin>
export declare const builderFor: (target: Target, pins: ReadonlyMap<string, Pin>, host: Host) => Pin | null
export declare const useCodeCacheFor: (target: Target, host: Host) => boolean
export declare const seaConfig: (input: {
  readonly main: string
  readonly executable: string
  readonly output: string
  readonly bundle: string
  readonly codeCache: string | null
}) => Readonly<Record<string, unknown>>
export declare const seaLoader: string
export declare const cacheMaker: string
export declare const integrityOf: (sha512Base64: string) => string
export declare const osslsigncodeOfflineFlags: (versionLine: string) => ReadonlyArray<string>
export declare const expectedSigner: string
export declare const readVerify: (output: string) => Verify
export declare const authenticodeProblem: (status: number | null, verify: Verify) => string | null
export declare const debDepends: string
export declare const dependsProvides: Readonly<Record<string, ReadonlyArray<string>>>
export declare const debControl: (input: {
  readonly version: string
  readonly arch: string
  readonly installedSizeKb: number
  readonly nodeVersion: string
}) => string
export declare const debLayout: ReadonlyArray<{ readonly path: string; readonly mode: number; readonly from: string }>
export declare const debFileName: (version: string, arch: string) => string
