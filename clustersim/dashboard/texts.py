"""The explanatory texts of the pages, for someone who has never seen an agent-based model.

Plain HTML (Solara's Markdown component loads a diagram library from a CDN on every
page, which a closed network cannot reach). Every text here is fixed: nothing a visitor
types is ever put into HTML.
"""

from clustersim.experiments.verdict import CI_MEANING

EXPLORE_INTRO = """
<p>This is an <b>agent-based model</b>. Instead of one equation for the whole economy, the
computer simulates every small manufacturer in a region as an <i>agent</i> with its own
size, skills, cash and business contacts, and lets them act month by month: bid for
orders, team up, deliver, learn, grow or close. What happens to the cluster as a whole
(how many firms survive, how much they innovate, how tightly they are connected)
<i>emerges</i> from what the firms do. Each run is one possible history: change the
<b>seed</b> to see another one.</p>
"""

EXPLORE_GLOSSARY = """
<ul style="margin:0 0 0 1.1em; padding:0">
<li><b>Firm</b> (a dot on the map): a small manufacturer, most with fewer than 50
employees, specialised in one <i>phase</i> of production (say cutting, machining or
finishing). A bigger dot has more employees. Customers' orders need several phases, so a
<i>lead firm</i> recruits partners for each order: that team is a production network.</li>
<li><b>Tie</b> (a line): two firms that know each other or have worked together. A thicker,
darker line means more <i>trust</i>. Trust grows when joint work succeeds, falls when it
fails, and fades when firms stop working together. Only the strongest ties are drawn.</li>
<li><b>Formal network</b> (dots of one colour): three or more firms that agreed to do two
or more things together, such as joint marketing or a shared front office.</li>
<li><b>Broker</b> (yellow star): a trained go-between paid by a public programme, as in
Denmark around 1990. Brokers find firms, build trust between them and group them into
formal networks, then step back when the programme ends.</li>
<li><b>Service hub</b> (white square): a service centre for the sector, like those of
Emilia-Romagna, offering training, market intelligence, shared equipment and export help.
Members pay a fee; public seed money covers the rest.</li>
<li><b>Challenge grants</b>: public money for groups of firms that propose a joint project
and pay part of its cost themselves.</li>
<li><b>Shocks</b>: <i>demand drop</i> (customers buy half as much for a year, as in Covid-19),
<i>supply disruption</i> (a fifth of the firms cannot produce for three months),
<i>low-cost competition</i> (foreign producers push prices down in commodity products,
for ten years). A red band on the charts marks when a shock lasts.</li>
</ul>
"""

EXPLORE_HOW = """
<p style="margin:0">Pick a scenario and set the controls, then press <b>Reset</b>: a new run
starts at month 0 with them. <b>Step</b> runs one month, <b>Play</b> runs month after month
until you press <b>Pause</b>. Fire a shock at any time and watch the cluster respond. Your
run is yours alone: other visitors have their own.</p>
"""

COMPARE_INTRO = """
<p>A <b>sweep</b> runs the model many times to compare policy options fairly. Each
<b>arm</b> is one option (no policy, brokers, grants, hubs, ...). Because each run is one
possible history, every arm is run several times with different seeds
(<b>replications</b>); replication <i>r</i> of every arm uses the same seed, so arms are
compared under the same luck. The first table gives each arm's mean and its 95% confidence
interval (for shares a bootstrap interval, for 0/1 outcomes a Wilson interval, both
inside [0, 1]); the second answers the question, as the HTML report does.</p>
<p>""" + CI_MEANING + """</p>
<p style="margin:0">Sweeps are run with <code>clustersim sweep</code>; their results stores
(<code>.duckdb</code> files) are read from the server's results folder only.</p>
"""
