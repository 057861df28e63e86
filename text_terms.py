"""Words and stopwords for naming issues: Unicode tokens, and stopwords for the cleaner's five languages.

English stopwords (with support chatter) always apply. Another language's stopwords apply in full to a
text written in it (two or more of its unmistakable function words); its unmistakable ones apply to
every text, since they mean nothing in any. The rest are also English words ("die", "door", "car"):
an English text keeps them, so English terms are what they always were.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_ENGLISH = """
    a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's will with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves
    hi hello hey dear thanks thank thx please pls yes yeah yep ok okay sure regards cheers best kind
    just like want wanted need needs needed would could get got getting know let help hoping wondering
    im ive id dont cant wont also really still well one something anything today now way able us via
"""
STOPWORDS = frozenset(_ENGLISH.split())

# Snowball's stopword lists plus greetings, thanks and sign-offs; then the words that are English too.
_OTHER = {
    "de": ("""
        aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm beim
        andern anders auch auf aus bei bin bis bist da damit dann der den des dem die das dass daß derselbe
        derselben denselben desselben demselben dieselbe dieselben dasselbe dazu dein deine deinem deinen
        deiner deines denn derer dessen dich dir du dies diese diesem diesen dieser dieses doch dort durch ein
        eine einem einen einer eines einig einige einigem einigen einiger einiges einmal er ihn ihm es etwas
        euer eure eurem euren eurer eures für gegen gewesen hab habe haben hat hatte hatten hier hin hinter
        ich mich mir ihr ihre ihrem ihren ihrer ihres euch im in indem ins ist jede jedem jeden jeder jedes
        jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner keines können könnte machen
        man manche manchem manchen mancher manches mein meine meinem meinen meiner meines mit muss musste nach
        nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst sich sie
        ihnen sind so solche solchem solchen solcher solches soll sollte sondern sonst über um und uns unsere
        unserem unseren unser unseres unter viel vom von vor während war waren warst was weg weil weiter
        welche welchem welchen welcher welches wenn werde werden wie wieder will wir wird wirst wo wollen
        wollte würde würden zu zum zur zwar zwischen
        hallo guten tag morgen danke dank vielen bitte liebe lieber geehrte geehrter geehrten damen herren
        herr frau grüße grüßen gruß freundlichen beste viele leider gerne gern schon mal ja nein geht gibt wurde
        wurden worden möchte möchten wäre hast habt konnte könnten seit heute bereits immer eigentlich mfg
    """, """
        die dies bin hat war man den nun mit ins bis von seine hin also will was so am an in da er es um tag
        dank das
    """),
    "fr": ("""
        au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me même mes moi
        mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos
        votre vous c d j l à m n s t y été étée étées étés étant étante étants étantes suis es est sommes êtes
        sont serai seras sera serons serez seront serais serait serions seriez seraient étais était étions
        étiez étaient fus fut fûmes fûtes furent sois soit soyons soyez soient fusse fusses fût fussions
        fussiez fussent ayant ayante ayantes ayants eu eue eues eus ai as avons avez ont aurai auras aura
        aurons aurez auront aurais aurait aurions auriez auraient avais avait avions aviez avaient eut eûmes
        eûtes eurent aie aies ait ayons ayez aient eusse eusses eût eussions eussiez eussent
        bonjour bonsoir salut merci beaucoup avance cordialement salutations sincères distinguées bien bonne journée
        madame monsieur svp stp oui non aussi très encore toujours déjà depuis comme cela ça fait faire peux
        pouvez peut pourriez voudrais veuillez avoir être quand alors donc car ici tout tous toute toutes plus
        moins rien chose sans sous entre vers chez après avant dont où lors puis cette cet celui celle leurs
        quel quelle quels quelles si ni aucun aucune autre autres mêmes là voici voilà jusqu lorsqu puisqu
    """, """
        des pas son mon est par ton aux elle plus car non chose sans encore entre eu sur si ni sous as on en
        ou me ma sa ta te de la un il ce se ne les mes nos pour aura vers ni
    """),
    "es": ("""
        de la que el en y a los del se las por un para con no una su al lo como más pero sus le ya o este sí
        porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante todos
        uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras otra él
        tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros mi mis tú
        te ti tu tus ellas nosotras vosotros vosotras os mío mía míos mías tuyo tuya tuyos tuyas suyo suya
        suyos suyas nuestro nuestra nuestros nuestras vuestro vuestra vuestros vuestras esos esas estoy estás
        está estamos estáis están esté estés estemos estéis estén estaré estarás estará estaremos estaréis
        estarán estaría estarías estaríamos estaríais estarían estaba estabas estábamos estabais estaban
        estuve estuviste estuvo estuvimos estuvisteis estuvieron estuviera estuvieras estuviéramos estuvierais
        estuvieran estando estado estada estados estadas he has ha hemos habéis han haya hayas hayamos hayáis
        hayan habré habrás habrá habremos habréis habrán habría habrías habríamos habríais habrían había
        habías habíamos habíais habían hube hubiste hubo hubimos hubisteis hubieron hubiera hubieras
        hubiéramos hubierais hubieran habiendo habido habida habidos habidas soy eres es somos sois son sea
        seas seamos seáis sean seré serás será seremos seréis serán sería serías seríamos seríais serían era
        eras éramos erais eran fui fuiste fue fuimos fuisteis fueron fuera fueras fuéramos fuerais fueran
        tengo tienes tiene tenemos tenéis tienen tenga tengas tengamos tengáis tengan tendré tendrás tendrá
        tendremos tendréis tendrán tendría tenía tenías teníamos teníais tenían tuve tuviste tuvo tuvimos
        tuvieron teniendo tenido
        hola buenos buenas días tardes noches gracias saludos favor estimado estimada estimados atentamente
        cordial cordiales muchas vale puedo puede pueden podría podrían quiero quería necesito ayuda hacer
        hace ahora aún todavía bien solo sólo así aquí entonces luego mismo misma cómo cuál dónde cuándo
    """, """
        con sin son era eras has han les uno hay ante sea ser todo para nada mucho solo favor vale poco el la
        de un es su al lo os mi tu yo he me no a e o y los las del contra algo mis soy cordial ni
    """),
    "nl": ("""
        de en van ik te dat die in een hij het niet zijn is was op aan met als voor had er maar om hem dan
        zou of wat mijn men dit zo door over ze zich bij ook tot je mij uit der daar haar naar heb hoe heeft
        hebben deze u want nog zal me zij nu ge geen omdat iets worden toch al waren veel meer doen toen moet
        ben zonder kan hun dus alles onder ja eens hier wie werd altijd doch wordt wezen kunnen ons zelf tegen
        na reeds wil kon niets uw iemand geweest andere
        hallo hoi beste goedemorgen goedemiddag goedenavond dag dank bedankt alvast groet groeten
        vriendelijke hartelijke graag alstublieft aub mvg even weer wel gewoon eigenlijk misschien kunt
        jullie onze wij we hebt gaat gaan krijg krijgen sinds vandaag
    """, """
        ben dan dat die dit door had hem hoe hun kan kon met men nog over tot van was want wat wel even dag
        dank als in is of op om me zo de na
    """),
}


def _casefolded(text: str) -> frozenset[str]:
    return frozenset(unicodedata.normalize("NFC", word).casefold() for word in text.split())


_FULL = {lang: _casefolded(words) for lang, (words, _) in _OTHER.items()}
# The words of a language that are not English ones: evidence of it, and noise in any text. Single
# letters (French l', d', s') are no evidence: "it s" and "n/a" have them too.
_UNMISTAKABLE = {lang: frozenset(w for w in _FULL[lang] - _casefolded(also) - STOPWORDS if len(w) > 1)
                 for lang, (_, also) in _OTHER.items()}
_ALWAYS = STOPWORDS.union(*_UNMISTAKABLE.values())
_EVIDENCE = 2

_WORD = re.compile(r"[^\W\d_][^\W_]*(?:'[^\W\d_]+)?")
_ADDRESS = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
_ELISION = re.compile(r"(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)'(?=[^\W\d_])")


def words(text: str) -> list[str]:
    """Casefolded words: letters of any script, digits inside a word ("win10"); addresses and links dropped."""
    text = unicodedata.normalize("NFC", text).casefold().replace("\u2019", "'")
    # Email addresses and links are people and places, not the problem ("example com").
    text = _ADDRESS.sub(" ", text)
    return [w.replace("'", "") if w.endswith("'s") else w for w in _WORD.findall(text)]


def languages(tokens: list[str]) -> tuple[str, ...]:
    """The languages besides English that `tokens` are written in, by their unmistakable function words."""
    return tuple(lang for lang, marks in _UNMISTAKABLE.items() if sum(t in marks for t in tokens) >= _EVIDENCE)


@lru_cache(maxsize=32)
def stopwords_for(langs: tuple[str, ...]) -> frozenset[str]:
    """Stopwords for a text in English and `langs`."""
    return _ALWAYS.union(*(_FULL[lang] for lang in langs))


def terms(text: str) -> list[str]:
    """Words without stopwords, plus bigrams of neighbouring kept words."""
    tokens = words(text)
    langs = languages(tokens)
    if "fr" in langs:
        tokens = [_ELISION.sub("", w, count=1) if _ELISION.match(w) else w for w in tokens]
    stop = stopwords_for(langs)
    kept: list[str | None] = [w if len(w) > 2 and w not in stop else None for w in tokens]
    # Only true neighbours: bridging stopwords gave pairs such as "status last".
    bigrams = [f"{a} {b}" for a, b in zip(kept, kept[1:], strict=False) if a and b and a != b]
    return [w for w in kept if w] + bigrams
