/**
 * JSON Schemas of a client library's response types, read from its TypeScript declarations with
 * the compiler's type checker: the reference for routes no published description covers (the
 * LlamaCloud v2 parse routes, which `@llamaindex/llama-cloud` types but the document lacks).
 *
 * Interfaces become `$defs` (so recursive types terminate), optional properties are not required,
 * `T | null` admits null, string index signatures are `additionalProperties`. Extra properties are
 * allowed, as the clients ignore them and the OpenAPI documents allow them.
 */
import ts from 'typescript';

type Json = Record<string, unknown>;

export interface TypeSchemas {
  /** Where the types came from, e.g. `@llamaindex/llama-cloud/resources/parsing.d.ts`. */
  source: string;
  /** A schema whose `$defs` hold every interface reached; `schemaOf(name)` refers into it. */
  schemaOf(name: string): Json;
}

/** Reads `names` from the exports of `files` (one program, so shared types are one `$def`). */
export function schemasFromDeclarations(
  files: readonly string[],
  names: readonly string[],
  source: string,
): TypeSchemas {
  const program = ts.createProgram([...files], { strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const exported = files.flatMap((file) => {
    const sourceFile = program.getSourceFile(file);
    if (sourceFile === undefined) throw new Error(`cannot read ${file}`);
    const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
    return moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol);
  });

  const defs: Record<string, Json> = {};
  const named = new Map<ts.Type, string>();

  const defName = (type: ts.Type): string => {
    const symbol = type.aliasSymbol ?? type.getSymbol();
    const base = symbol === undefined ? 'Anonymous' : checker.getFullyQualifiedName(symbol).replace(/^".*"\./, '');
    let name = base.replace(/[^A-Za-z0-9_.]/g, '_');
    for (let i = 2; name in defs; i++) name = `${base}_${i}`;
    return name;
  };

  function objectSchema(type: ts.Type): Json {
    const properties: Record<string, Json> = {};
    const required: string[] = [];
    for (const prop of checker.getPropertiesOfType(type)) {
      const declaration = prop.valueDeclaration ?? prop.declarations?.[0];
      if (declaration === undefined) continue;
      properties[prop.name] = convert(checker.getTypeOfSymbolAtLocation(prop, declaration));
      if ((prop.flags & ts.SymbolFlags.Optional) === 0) required.push(prop.name);
    }
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    return {
      type: 'object',
      properties,
      ...(required.length > 0 ? { required } : {}),
      ...(index === undefined ? {} : { additionalProperties: convert(index.type) }),
    };
  }

  function convert(type: ts.Type): Json {
    const f = type.flags;
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
    if (f & ts.TypeFlags.Null) return { type: 'null' };
    if (f & ts.TypeFlags.StringLiteral) return { const: (type as ts.StringLiteralType).value };
    if (f & ts.TypeFlags.NumberLiteral) return { const: (type as ts.NumberLiteralType).value };
    if (f & ts.TypeFlags.BooleanLiteral) return { const: checker.typeToString(type) === 'true' };
    if (f & ts.TypeFlags.String) return { type: 'string' };
    if (f & ts.TypeFlags.Number) return { type: 'number' };
    if (f & ts.TypeFlags.Boolean) return { type: 'boolean' };
    if (type.isUnion()) {
      const members = type.types.filter((t) => (t.flags & ts.TypeFlags.Undefined) === 0);
      if (members.length === 1 && members[0] !== undefined) return convert(members[0]);
      return { anyOf: members.map(convert) };
    }
    if (checker.isArrayType(type)) {
      const [item] = checker.getTypeArguments(type as ts.TypeReference);
      return { type: 'array', items: item === undefined ? {} : convert(item) };
    }
    if (f & ts.TypeFlags.Object) {
      const interfaceLike = (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Interface;
      if (!interfaceLike) return objectSchema(type);
      let name = named.get(type);
      if (name === undefined) {
        name = defName(type);
        named.set(type, name);
        defs[name] = {};
        defs[name] = objectSchema(type);
      }
      return { $ref: `#/$defs/${name}` };
    }
    throw new Error(`no JSON Schema for the type ${checker.typeToString(type)} in ${source}`);
  }

  const roots = new Map<string, Json>();
  for (const name of names) {
    const symbol = exported.find((s) => s.name === name);
    if (symbol === undefined) throw new Error(`${source} exports no type ${name}`);
    roots.set(name, convert(checker.getDeclaredTypeOfSymbol(symbol)));
  }
  return {
    source,
    schemaOf(name) {
      const root = roots.get(name);
      if (root === undefined) throw new Error(`${name} was not read from ${source}`);
      return { ...root, $defs: defs };
    },
  };
}
